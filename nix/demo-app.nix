# A stand-in tenant application (./demo-app.py): answers every request with the tenant's slug,
# on the socket systemd passes it. The VM test uses it, and the placeholder hosts run it until
# the operator sets services.saasTenants.app to the real application.
{ writeScriptBin, python3 }:
writeScriptBin "tenant-demo-app" ''
  #!${python3}/bin/python3
  ${builtins.readFile ./demo-app.py}
''
