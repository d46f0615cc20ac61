# TEST ONLY. Renders the virtual hosts the pure core gives nixpkgs' nginx module (shared
# routing plus each tenant's custom domains) into an nginx `http { }` block, the way that
# module writes them (listen, server_name, ssl_certificate, ssl_reject_handshake, locations,
# the recommended proxy headers), so tests/system/test_nginx_config.py can check it with Debian's
# nginx. (Left out: `http2 on;`, which Debian's nginx 1.22 predates and routing ignores.)
# Absolute paths move under `prefix` and ports are the test's: nothing else changes.
{
  tenantsDir,
  inventoryFile,
  host,
  prefix,
  httpPort,
  httpsPort,
  hashSizes ? true,
}:
let
  lib = import ../lib.nix;
  inherit (builtins) attrNames concatStringsSep replaceStrings;
  inventory = lib.readInventory inventoryFile;
  settings = lib.defaultSettings;
  plans = lib.hostPlans { dir = tenantsDir; inherit inventory host; };
  vhosts =
    lib.sharedVirtualHosts settings inventory.baseDomain
    // builtins.foldl' (acc: p: acc // lib.tenantVirtualHosts settings p) { } (
      builtins.attrValues plans
    );

  # nixpkgs' recommendedProxyConfig, per location with recommendedProxySettings.
  proxyHeaders = ''
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Forwarded-Server $host;
  '';

  location = path: l: ''
    location ${path} {
      ${if l ? proxyPass then "proxy_pass ${l.proxyPass};" else ""}
      ${if l.recommendedProxySettings or false then proxyHeaders else ""}
      ${if l ? root then "root ${l.root};" else ""}
      ${if l ? return then "return ${l.return};" else ""}
      ${l.extraConfig or ""}
    }
  '';

  certificateOf = name: v:
    if v ? useACMEHost then
      {
        cert = "/var/lib/acme/${v.useACMEHost}/fullchain.pem";
        key = "/var/lib/acme/${v.useACMEHost}/key.pem";
      }
    else
      {
        cert = v.sslCertificate;
        key = v.sslCertificateKey;
      };

  server = name: v:
    let
      default = if v.default or false then " default_server" else "";
      tls = certificateOf name v;
      listens =
        if v.onlySSL or false then
          "listen 127.0.0.1:${toString httpsPort} ssl${default};"
        else if v.rejectSSL or false then
          ''
            listen 127.0.0.1:${toString httpPort}${default};
            listen 127.0.0.1:${toString httpsPort} ssl${default};
            ssl_reject_handshake on;
          ''
        else
          "listen 127.0.0.1:${toString httpPort}${default};";
    in
    ''
      server {
        ${listens}
        server_name ${v.serverName or name};
        ${
          if v.onlySSL or false then
            ''
              ssl_certificate ${tls.cert};
              ssl_certificate_key ${tls.key};
            ''
          else
            ""
        }
        ${concatStringsSep "\n" (map (path: location path v.locations.${path}) (attrNames (v.locations or { })))}
        ${v.extraConfig or ""}
      }
    '';

  text = ''
    ${
      if hashSizes then
        ''
          server_names_hash_bucket_size ${toString lib.hashSizes.serverNamesHashBucketSize};
          server_names_hash_max_size ${toString lib.hashSizes.serverNamesHashMaxSize};
        ''
      else
        ""
    }
    ${concatStringsSep "\n" (map (name: server name vhosts.${name}) (attrNames vhosts))}
  '';
in
replaceStrings
  [ "/run/tenant-sockets/" "/run/tenant-routes/" "/var/lib/acme/" ]
  [ "${prefix}/run/tenant-sockets/" "${prefix}/run/tenant-routes/" "${prefix}/var/lib/acme/" ]
  text
