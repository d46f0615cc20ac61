# Pull deploys. A host whose inventory entry says `"deploy": "comin"` runs comin: it polls the
# state repo's branch, builds its own nixosConfigurations.<host> and switches by itself, so no
# SSH key to it sits in CI. comin's own module (its flake's nixosModules.comin) declares
# services.comin; flake.nix imports it for these hosts only, so the systems of pushed hosts do
# not change. Without it, a pulling host fails evaluation with an assertion saying so.
{
  config,
  lib,
  options,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.fleet.pull;
  inventory = builtins.fromJSON (builtins.readFile cfg.inventoryFile);
  host = inventory.hosts.${config.networking.hostName} or { };
  pulls = (host.deploy or "push") == "comin";
  # "10.0.0.7:4243" or "[fd00::7]:4243": comin joins address and port with a colon, so an
  # IPv6 address keeps its brackets. Checked by gitops_bot.contract.inventory.Host too.
  exporter = if host ? exporter then builtins.match "(.+):([0-9]+)" host.exporter else null;
  # Evaluated without comin's module (push hosts, or a forgotten import), services.comin does
  # not exist: setting it at all would be an error, so it is only set when declared.
  hasComin = options ? services && options.services ? comin;
  tokenProblem =
    if cfg.tokenFile == null then
      null
    else if !lib.hasPrefix "/" cfg.tokenFile then
      "is not an absolute path"
    else if lib.hasPrefix builtins.storeDir cfg.tokenFile then
      "is in the Nix store, which every user of the host can read"
    else
      null;
in
{
  options.fleet.pull = {
    inventoryFile = mkOption {
      type = types.path;
      default = ../inventory.json;
      description = "The inventory whose hosts.<name>.deploy says whether this host pulls.";
    };
    repository = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://github.com/example/fleet-state.git";
      description = "The state repo's URL, as comin fetches it (HTTPS; a token reads it).";
    };
    branch = mkOption {
      type = types.str;
      default = "main";
      description = "The branch the bot commits to, which the host deploys.";
    };
    tokenFile = mkOption {
      # A string, not a path: a path would be copied into the world-readable store.
      type = types.nullOr types.str;
      default = "/var/lib/secrets/comin-state-repo-token";
      description = ''
        A file on the host holding a read-only token for the state repo (a fine-grained
        GitHub token with Contents: read on that one repository). Placed by hand or by a
        secrets tool, never in git or the store. null for a public repository.
      '';
    };
    period = mkOption {
      type = types.ints.positive;
      default = 60;
      description = "Seconds between comin's polls of the branch.";
    };
  };

  config = lib.mkMerge [
    {
      assertions = [
        {
          # gitops-bot check refuses these too; here so a hand-edited inventory cannot
          # silently turn a pulling host into a pushed one, or hide its exporter.
          assertion = builtins.elem (host.deploy or "push") [
            "push"
            "comin"
          ];
          message = "nix/inventory.json: hosts.${config.networking.hostName}.deploy must be \"push\" or \"comin\".";
        }
        {
          assertion = !(host ? exporter) || (pulls && exporter != null);
          message = "nix/inventory.json: hosts.${config.networking.hostName}.exporter must be ADDRESS:PORT, on a host with \"deploy\": \"comin\".";
        }
      ]
      ++ lib.optionals pulls [
        {
          assertion = hasComin;
          message = ''
            ${config.networking.hostName} deploys by pull ("deploy": "comin" in the inventory)
            but comin's NixOS module is not imported: add inputs.comin.nixosModules.comin to
            its modules (flake.nix does for the flake's hosts).
          '';
        }
        {
          assertion = cfg.repository != null;
          message = "${config.networking.hostName} pulls: set fleet.pull.repository to the state repo's URL.";
        }
        {
          assertion = tokenProblem == null;
          message = "fleet.pull.tokenFile ${builtins.toJSON cfg.tokenFile} ${toString tokenProblem}.";
        }
      ];
    }
    (lib.optionalAttrs hasComin {
      services.comin = lib.mkIf pulls {
        enable = true;
        hostname = config.networking.hostName;
        remotes = [
          {
            name = "origin";
            # Unset, the assertion above names the option; "" keeps the type checker quiet.
            url = if cfg.repository == null then "" else cfg.repository;
            auth.access_token_path = if cfg.tokenFile == null then "" else cfg.tokenFile;
            branches.main.name = cfg.branch;
            poller.period = cfg.period;
          }
        ];
        # The exporter tells the bot which commit the host runs. Without an address in the
        # inventory it stays on loopback: the bot cannot see it, and its probe alone decides.
        exporter =
          if exporter == null then
            {
              listen_address = "127.0.0.1";
              openFirewall = false;
            }
          else
            {
              listen_address = builtins.elemAt exporter 0;
              port = lib.toInt (builtins.elemAt exporter 1);
              # Only the network of that address reaches it; it serves metrics without auth.
              openFirewall = true;
            };
      };
    })
  ];
}
