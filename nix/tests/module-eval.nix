# TEST ONLY. Evaluates ../module.nix with nixpkgs' lib.evalModules against the stub options in
# ./stub-options.nix and returns what a switch would compare: per-unit, per-vhost and
# per-certificate JSON, plus users and failed assertions. tests/system/test_nix.py calls this for
# tenant folders before and after a change.
{
  nixpkgsLib,
  tenantsDir,
  inventoryFile ? ../inventory.json,
  hostName ? "web-1",
  extraConfig ? { },
}:
let
  lib = import nixpkgsLib;
  # Stand-ins for the few packages the module names; only their paths reach the units.
  pkgs = {
    coreutils = "/stub/coreutils";
    writeShellScript = name: text: builtins.toFile name text;
  };
  evaluated = lib.evalModules {
    specialArgs = { inherit pkgs; };
    modules = [
      ./stub-options.nix
      ../module.nix
      {
        services.saasTenants = {
          enable = true;
          inherit tenantsDir inventoryFile hostName;
          # Store paths (types.package accepts nothing else) that no build ever made.
          app.package = "${builtins.storeDir}/00000000000000000000000000000000-stub-app";
          app.releases = {
            "2026.11" = "${builtins.storeDir}/11111111111111111111111111111111-stub-app-2026.11";
            "2026.12" = "${builtins.storeDir}/22222222222222222222222222222222-stub-app-2026.12";
          };
          app.command = p: "${p.package}/bin/tenant-app --socket ${p.socket} --state ${p.statePath}";
          tls.wildcard.dnsProvider = "rfc2136";
          generatedSecrets = [ "session-key" ];
          secretFiles.smtp-password = "/run/keys/smtp-password";
        };
      }
      extraConfig
    ];
  };
  cfg = evaluated.config;
  asJson = builtins.mapAttrs (_: builtins.toJSON);
in
{
  services = asJson cfg.systemd.services;
  sockets = asJson cfg.systemd.sockets;
  virtualHosts = asJson cfg.services.nginx.virtualHosts;
  certificates = asJson cfg.security.acme.certs;
  users = asJson cfg.users.users;
  groups = builtins.attrNames cfg.users.groups;
  nginx = {
    inherit (cfg.services.nginx) enable enableReload serverNamesHashBucketSize serverNamesHashMaxSize;
  };
  postgresql = cfg.services.postgresql.enable;
  inherit (cfg.services.saasTenants.app) defaultRelease;
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
}
