# The control host: it runs the bot (services.gitops-bot) and no tenants. flake.nix builds
# nixosConfigurations.control and the colmena node `control` from this list; replace the
# values marked below with your own, and add nix/control/hardware.nix (the output of
# `nixos-generate-config --show-hardware-config` on that machine) before deploying.
{ package }:
let
  hardware = ./hardware.nix;
in
[
  ../gitops-bot.nix
  (if builtins.pathExists hardware then hardware else ../hosts/placeholder-hardware.nix)
  {
    networking.hostName = "control";
    services.gitops-bot = {
      enable = true;
      inherit package;
      # Replace: the name the landing page and GitHub post to.
      nginx.virtualHost = "bot.fleet.example.net";
      nginx.enableACME = true;
      openFirewall = true;
      # Deployment keys (colmena's deployment.keys or NixOps' keys land in /run/keys).
      webhookSecretFile = "/run/keys/gitops-bot-webhook-secret";
      statusTokenFile = "/run/keys/gitops-bot-status-token";
      adminTokenFile = "/run/keys/gitops-bot-admin-token";
      settings.public_url = "https://bot.fleet.example.net";
    };
    security.acme = {
      acceptTerms = true;
      defaults.email = "hostmaster@example.com";
    };
    services.openssh.enable = true;
    system.stateVersion = "25.11";
  }
]
