# NixOS module: every tenants/<slug>.json placed on this host becomes a running environment
# (system user, app service on a unix socket, PostgreSQL database, nginx route), and adding a
# tenant restarts nothing that already runs. The per-tenant units come from ./lib.nix; this
# file wires them to nixpkgs. docs/nixos.md explains each choice.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMap
    escapeShellArgs
    hasPrefix
    literalExpression
    mkDefault
    mkIf
    mkMerge
    mkOption
    optional
    types
    unique
    ;

  cfg = config.services.saasTenants;
  tenantLib = import ./lib.nix;

  inventory = tenantLib.readInventory cfg.inventoryFile // {
    inherit (cfg) baseDomain;
  };

  plans = builtins.attrValues (
    tenantLib.hostPlans {
      dir = cfg.tenantsDir;
      inherit inventory;
      host = cfg.hostName;
    }
  );

  nginxGroup = config.services.nginx.group;

  # Runs as the tenant's user before the app: creates each missing secret once, so secrets
  # are born on the host and never pass through the Nix store.
  generateSecrets = pkgs.writeShellScript "tenant-generate-secrets" ''
    set -eu
    umask 077
    dir="$STATE_DIRECTORY/secrets"
    ${pkgs.coreutils}/bin/mkdir -p "$dir"
    for name in "$@"; do
      if [ ! -s "$dir/$name" ]; then
        ${pkgs.coreutils}/bin/head -c 32 /dev/urandom | ${pkgs.coreutils}/bin/base64 > "$dir/$name.tmp"
        ${pkgs.coreutils}/bin/mv "$dir/$name.tmp" "$dir/$name"
      fi
    done
  '';

  settings = tenantLib.defaultSettings // {
    inherit nginxGroup;
    database = cfg.database.enable;
    tools = {
      touch = "${pkgs.coreutils}/bin/touch";
      chgrp = "${pkgs.coreutils}/bin/chgrp";
      chmod = "${pkgs.coreutils}/bin/chmod";
      psql = "${config.services.postgresql.package}/bin/psql";
    };
    appCommand = cfg.app.command;
    appServiceConfig = cfg.app.serviceConfig // {
      LoadCredential = lib.mapAttrsToList (name: file: "${name}:${file}") cfg.secretFiles;
    };
    appExecStartPre = optional (cfg.generatedSecrets != [ ]) (
      "${generateSecrets} ${escapeShellArgs cfg.generatedSecrets}"
    );
    acmeWebroot = cfg.tls.acmeWebroot;
  };

  customDomains = concatMap (p: p.route.customDomains) plans;
  userNames = map (p: p.user) plans;

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
        The state repo's tenants/ folder. Only files named `<slug>.json` are read; the
        schema file and anything else are ignored.
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
        type = types.package;
        description = "The tenant application.";
      };
      command = mkOption {
        type = types.functionTo types.str;
        default = p: "${lib.getExe cfg.app.package} --socket ${p.socket} --state-directory ${p.statePath}";
        defaultText = literalExpression ''
          p: "''${lib.getExe cfg.app.package} --socket ''${p.socket} --state-directory ''${p.statePath}"
        '';
        description = ''
          ExecStart of a tenant, given the tenant's plan (`socket`, `statePath`, `slug`,
          `database.name`, ... from nix/lib.nix). The app must listen on `socket`; the
          service's UMask (0007) and the setgid socket directory let nginx connect.
        '';
      };
      serviceConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
        description = "Extra systemd [Service] settings for every tenant app (same for all tenants).";
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

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.length (unique userNames) == lib.length userNames;
        message = "services.saasTenants: two tenants map to the same system user";
      }
      {
        assertion = lib.length (unique customDomains) == lib.length customDomains;
        message = "services.saasTenants: a custom domain is claimed by two tenants";
      }
      {
        assertion = builtins.all (f: !hasPrefix builtins.storeDir f) (
          builtins.attrValues cfg.secretFiles
        );
        message = "services.saasTenants.secretFiles must not point into the Nix store";
      }
    ];

    users.users = mkMerge (
      map (p: {
        ${p.user} = {
          isSystemUser = true;
          group = p.group;
          description = "Tenant ${p.slug}";
        };
      }) plans
    );
    users.groups = mkMerge (map (p: { ${p.group} = { }; }) plans);

    systemd.services = mkMerge (
      map (tenantLib.tenantUnits settings) plans
      # Custom-domain certificates order themselves before nginx's start and reload, so
      # `nginx -t` finds at least the self-signed placeholder that acme-<domain>.service
      # writes. The relation lives in the per-domain acme unit (WantedBy= is a symlink in
      # nginx's .wants/ folder, not a line of its unit file), so nginx.service and
      # nginx-config-reload.service keep their unit files: the pattern nixpkgs' nginx module
      # uses for enableACME hosts since NixOS 25.11.
      ++ map (domain: {
        "acme-${domain}" = {
          before = [
            "nginx.service"
            "nginx-config-reload.service"
          ];
          wantedBy = [
            "nginx.service"
            "nginx-config-reload.service"
          ];
        };
      }) customDomains
    );

    services.postgresql.enable = mkIf cfg.database.enable true;

    services.nginx = {
      enable = true;
      # A config change becomes `systemctl reload nginx` through nginx-config-reload.service,
      # never a restart: nginx.service's own unit file does not name the config file.
      enableReload = true;
      recommendedProxySettings = mkDefault true;
      recommendedTlsSettings = mkDefault true;
      virtualHosts = mkMerge (
        [ (tenantLib.sharedVirtualHosts settings cfg.baseDomain) ]
        ++ map (tenantLib.tenantVirtualHosts settings) plans
      );
    };

    security.acme.certs = mkMerge (
      [
        {
          ${cfg.baseDomain} = {
            domain = "*.${cfg.baseDomain}";
            inherit (cfg.tls.wildcard) dnsProvider environmentFile credentialFiles;
            group = nginxGroup;
          };
        }
      ]
      ++ map (tenantLib.tenantCertificates settings) plans
    );
  };
}
