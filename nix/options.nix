# The options of services.saasTenants; ./module.nix turns them into configuration.
{ config, lib, ... }:
let
  inherit (lib) literalExpression mkOption types;
  cfg = config.services.saasTenants;
  tenantLib = import ./lib.nix;

  secretPath = types.strMatching "/[^\n]*" // {
    description = "absolute path on the host (a string, so it never enters the Nix store)";
  };
in
{
  options.services.saasTenants = {
    enable = lib.mkEnableOption "one environment per tenant file of the state repo";

    tenantsDir = mkOption {
      type = types.path;
      example = literalExpression "./tenants";
      description = ''
        The state repo's tenants/ folder. Only regular files named `<slug>.json` are read;
        the schema file, symlinks and anything else are ignored.
      '';
    };

    inventoryFile = mkOption {
      type = types.path;
      default = ./inventory.json;
      defaultText = literalExpression "./inventory.json";
      description = "The fleet inventory: base domain, hosts and per-plan limits.";
    };

    hostName = mkOption {
      type = types.strMatching "[a-z][a-z0-9-]{0,62}";
      default = config.networking.hostName;
      defaultText = literalExpression "config.networking.hostName";
      description = "This host's name in the inventory; tenants whose `host` is this run here.";
    };

    baseDomain = mkOption {
      type = types.str;
      default = (tenantLib.readInventory cfg.inventoryFile).baseDomain;
      defaultText = literalExpression "(inventory).baseDomain";
      description = "Tenants are served as `<slug>.<baseDomain>`.";
    };

    app = {
      package = mkOption {
        type = types.nullOr types.package;
        default = null;
        description = ''
          The legacy single package: what tenants whose file names no `release` run. Needed
          only while such tenants are on this host; the module asserts it then.
        '';
      };
      releases = mkOption {
        type = types.attrsOf types.package;
        default = { };
        example = literalExpression ''
          { "2026.11" = pkgs.myapp_2026_11; "2026.12" = pkgs.myapp_2026_12; }
        '';
        description = ''
          The app's releases by name. A tenant file's `release` picks one, so moving a
          tenant to another release changes that tenant's app unit only. Every release
          nix/inventory.json lists in `releases.known` must have a package here (asserted);
          more may be, to stage a release before the inventory names it.
        '';
      };
      defaultRelease = mkOption {
        type = types.nullOr types.str;
        readOnly = true;
        default = ((tenantLib.readInventory cfg.inventoryFile).releases or { }).default or null;
        defaultText = literalExpression "(inventory).releases.default";
        description = ''
          The fleet's current default release, which the bot writes into new tenants' files;
          read from nix/inventory.json (set it there). No unit may depend on it: moving it
          restarts nobody, and `gitops-bot deploy` deploys no host when only it changed.
        '';
      };
      command = mkOption {
        type = types.functionTo types.str;
        default = p: "${lib.getExe p.package} --state-directory ${p.statePath}";
        defaultText = literalExpression ''
          p: "''${lib.getExe p.package} --state-directory ''${p.statePath}"
        '';
        description = ''
          ExecStart of a tenant, given the tenant's plan (`statePath`, `slug`,
          `database.name`, ... from nix/lib/names.nix) and `package`: the package of the
          tenant's `release`, or `app.package` when it names none. The app is socket-activated: it
          serves HTTP on the listening socket systemd passes as fd 3 (`LISTEN_FDS=1`,
          sd_listen_fds(3)) and never creates a socket of its own. When
          `TENANT_IDLE_STOP_SECONDS` is set (plans with `idleStop`), it exits with status 0
          after that long without a request; the socket starts it again on the next one.
        '';
      };
      serviceConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
        description = "Extra systemd [Service] settings for every tenant app (same for all tenants).";
      };
      allowedAddresses = mkOption {
        type = types.nullOr (types.listOf (types.strMatching "[0-9A-Za-z.:/-]+"));
        default = null;
        example = [ "localhost" "10.0.0.0/8" ];
        description = ''
          Where tenant apps may connect over IP. `null` leaves outbound traffic open; a list
          sets `IPAddressDeny=any` and `IPAddressAllow=` to the list (CIDRs and systemd's
          `localhost`, `link-local` and `multicast`). Requests from nginx come over the unix
          socket and are never affected.
        '';
      };
    };

    tls = {
      wildcard = {
        dnsProvider = mkOption {
          type = types.str;
          example = "cloudflare";
          description = "lego DNS provider for the `*.<baseDomain>` certificate (DNS-01).";
        };
        environmentFile = mkOption {
          type = types.nullOr secretPath;
          default = null;
          description = "File with the DNS provider's credentials as environment variables.";
        };
        credentialFiles = mkOption {
          type = types.attrsOf secretPath;
          default = { };
          example = {
            CLOUDFLARE_DNS_API_TOKEN_FILE = "/run/keys/cloudflare-token";
          };
          description = "DNS provider credentials passed to lego as files.";
        };
      };
      acmeWebroot = mkOption {
        type = types.str;
        default = "/var/lib/acme/acme-challenge";
        description = "Webroot for the HTTP-01 challenges of custom domains.";
      };
    };

    database.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Give each tenant a PostgreSQL role and database (peer authentication).";
    };

    secretFiles = mkOption {
      type = types.attrsOf secretPath;
      default = { };
      example = {
        smtp-password = "/run/keys/smtp-password";
      };
      description = ''
        Host files handed to every tenant app with systemd LoadCredential, readable at
        `$CREDENTIALS_DIRECTORY/<name>`. Paths are strings so nothing is copied to the store.
      '';
    };

    generatedSecrets = mkOption {
      type = types.listOf (types.strMatching "[A-Za-z0-9_-]+");
      default = [ ];
      example = [ "session-key" ];
      description = ''
        Secrets created on the host at a tenant's first start, under
        `<statePath>/secrets/<name>`, and kept from then on.
      '';
    };
  };
}
