# What every host of the fleet runs: the tenant module reading this repo's tenants/ and
# inventory, plus the few host settings it needs. Deploy entry points (flake.nix, network.nix)
# add the host's name and hardware profile.
{ pkgs, ... }:
let
  demoApp = pkgs.callPackage ../demo-app.nix { };
in
{
  imports = [ ../module.nix ];

  services.saasTenants = {
    enable = true;
    tenantsDir = ../../tenants;
    inventoryFile = ../inventory.json;
    # Replace with the real tenant application and its command template. Tenant files
    # without a `release` run app.package; the others the release they name. Every release
    # in ../inventory.json's releases.known needs its package here.
    app.package = demoApp;
    app.releases."2026.11" = demoApp;
    tls.wildcard = {
      # DNS-01 for *.<baseDomain>; the credentials file stays on the host (/run/keys is
      # where NixOps and colmena put deployment keys).
      dnsProvider = "rfc2136";
      environmentFile = "/run/keys/acme-dns.env";
    };
    generatedSecrets = [ "session-key" ];
  };

  # Hosts with "deploy": "comin" in the inventory pull this repository (pull.nix). Replace with
  # the state repo's URL; each such host needs a read-only token at fleet.pull.tokenFile.
  fleet.pull.repository = "https://github.com/example/fleet-state.git";

  security.acme = {
    acceptTerms = true;
    defaults.email = "hostmaster@example.com";
  };

  networking.firewall.allowedTCPPorts = [
    80
    443
  ];
  services.openssh.enable = true;
  system.stateVersion = "25.11";
}
