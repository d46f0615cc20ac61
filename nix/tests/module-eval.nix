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
          app.package = "/stub/app";
          app.command = p: "/stub/app/bin/tenant-app --socket ${p.socket} --state ${p.statePath}";
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
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
}
