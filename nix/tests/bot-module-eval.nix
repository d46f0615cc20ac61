# TEST ONLY. Evaluates ../gitops-bot.nix (services.gitops-bot) with nixpkgs' lib.evalModules
# against ./stub-options.nix and returns what the host would run: both units, the users, the
# nginx virtual host, the firewall and the failed assertions, as JSON-ready values.
# tests/nix/test_gitops_bot_module.py calls it.
{
  nixpkgsLib,
  config ? { },
}:
let
  lib = import nixpkgsLib;
  evaluated = lib.evalModules {
    specialArgs.pkgs = { };
    modules = [
      ./stub-options.nix
      ../gitops-bot.nix
      {
        # A stand-in package: lib.getExe reads meta.mainProgram and the path.
        services.gitops-bot.package = {
          type = "derivation";
          outPath = "/stub/gitops-bot";
          name = "gitops-bot";
          meta.mainProgram = "gitops-bot";
        };
      }
      config
    ];
  };
  cfg = evaluated.config;
in
{
  services = cfg.systemd.services;
  users = cfg.users.users;
  groups = builtins.attrNames cfg.users.groups;
  nginx = {
    inherit (cfg.services.nginx) enable recommendedProxySettings virtualHosts;
  };
  firewall = cfg.networking.firewall.allowedTCPPorts;
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
}
