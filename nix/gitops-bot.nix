# services.gitops-bot: the bot itself on a NixOS host. The web workers and the writer run as
# units of their own, sharing one state directory; nginx in front holds slow clients, caps
# bodies and terminates TLS. Secrets reach the units through LoadCredential, never the store.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    types
    ;
  cfg = config.services.gitops-bot;

  # Option name -> (systemd credential name, as gitops_bot/config.py reads it from
  # $CREDENTIALS_DIRECTORY). Settings never hold a secret: these are the only way in.
  credentials = {
    webhookSecretFile = "webhook-secret";
    statusTokenFile = "status-token";
    adminTokenFile = "admin-token";
    sessionKeyFile = "session-key";
    notifySecretFile = "notify-secret";
    githubTokenFile = "github-token";
    githubAppKeyFile = "github-app-key";
    githubWebhookSecretFile = "github-webhook-secret";
  };
  # The same secrets as Settings fields (webhook-secret -> webhook_secret), refused in settings.
  secretSettings = map (lib.replaceStrings [ "-" ] [ "_" ]) (builtins.attrValues credentials);
  loadCredential = lib.mapAttrsToList (option: name: "${name}:${cfg.${option}}") (
    lib.filterAttrs (option: _: cfg.${option} != null) credentials
  );

  settingValue =
    value:
    if builtins.isBool value then
      lib.boolToString value
    else if builtins.isList value then
      lib.concatStringsSep "," value
    # toString 2.5 is "2.500000"; JSON spells a float the way Python reads it back.
    else if builtins.isFloat value then
      builtins.toJSON value
    else
      toString value;
  environment = {
    GITOPS_BOT_STATE_DIR = cfg.stateDir;
    # The bind address is loopback only, so nginx on this host is the one peer whose
    # X-Forwarded-For is believed (gunicorn's forwarded_allow_ips).
    GUNICORN_CMD_ARGS = "--forwarded-allow-ips=127.0.0.1";
  }
  // lib.mapAttrs' (name: value: {
    name = "GITOPS_BOT_${lib.toUpper name}";
    value = settingValue value;
  }) (lib.filterAttrs (_: value: value != null) cfg.settings);

  hardening = {
    User = "gitops-bot";
    Group = "gitops-bot";
    StateDirectory = "gitops-bot";
    StateDirectoryMode = "0750";
    UMask = "0077";
    LoadCredential = loadCredential;
    NoNewPrivileges = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RemoveIPC = true;
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
    CapabilityBoundingSet = "";
    Restart = "on-failure";
    RestartSec = "2s";
  };
  bot = "${lib.getExe cfg.package}";
in
{
  options.services.gitops-bot = {
    enable = mkEnableOption "gitops-bot, the signup webhook to state repo pipeline";

    package = mkOption {
      type = types.package;
      description = "The gitops-bot package (this flake's packages.<system>.default).";
    };

    stateDir = mkOption {
      type = types.str;
      default = "/var/lib/gitops-bot";
      readOnly = true;
      description = "The queue database and the writer's clone (StateDirectory=gitops-bot).";
    };

    settings = mkOption {
      type = types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.bool
            types.int
            types.float
            types.str
            types.path
            (types.listOf types.str)
          ]
        )
      );
      default = { };
      example = {
        backend = "github";
        github_repository = "example/state";
        public_url = "https://bot.example.com";
        max_queue = 10000;
      };
      description = ''
        gitops-bot settings, each passed as GITOPS_BOT_<NAME> (`max_queue` becomes
        GITOPS_BOT_MAX_QUEUE; `gitops-bot --help` lists them). Secrets are refused here:
        set the `*File` options instead.
      '';
    };

    web = {
      port = mkOption {
        type = types.port;
        default = 8080;
        description = "Loopback port of the web workers; nginx proxies to it.";
      };
      workers = mkOption {
        type = types.ints.positive;
        default = 4;
        description = "gunicorn worker processes.";
      };
    };

    nginx = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Put an nginx virtual host in front of the web workers.";
      };
      virtualHost = mkOption {
        type = types.str;
        example = "bot.example.com";
        description = "The name the landing page and GitHub send webhooks to.";
      };
      enableACME = mkOption {
        type = types.bool;
        default = false;
        description = "A certificate from ACME for the virtual host, and HTTPS only.";
      };
      # Slow clients are held here, in nginx's event loop, and cut off after these times,
      # instead of each holding one of the bot's workers.
      clientHeaderTimeout = mkOption {
        type = types.str;
        default = "10s";
        description = "nginx client_header_timeout.";
      };
      clientBodyTimeout = mkOption {
        type = types.str;
        default = "10s";
        description = "nginx client_body_timeout.";
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open ports 80 and 443 for the nginx virtual host.";
    };
  }
  // lib.mapAttrs (
    option: name:
    mkOption {
      # A string, not a path: a path literal such as ./secret would be copied into the
      # world-readable store the moment it is interpolated.
      type = types.nullOr (types.strMatching "/.+");
      default = null;
      example = "/run/keys/${name}";
      description = ''
        Absolute path of the file holding the ${name} secret, read by systemd
        (LoadCredential) and handed to the bot as the credential '${name}'.
      '';
    }
  ) credentials;

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = builtins.all (name: !(cfg.settings ? ${name} || cfg.settings ? "${name}_file")) secretSettings;
        message = "services.gitops-bot.settings must not hold a secret: use the services.gitops-bot.*File options, which pass it by LoadCredential.";
      }
      {
        assertion = (cfg.settings.demo or false) != true;
        message = "services.gitops-bot.settings.demo generates its own secrets; a host runs with real ones.";
      }
    ]
    ++ map (option: {
      assertion = cfg.${option} != null;
      message = "services.gitops-bot.${option} is required.";
    }) [ "webhookSecretFile" "statusTokenFile" "adminTokenFile" ]
    ++ map (option: {
      assertion = cfg.${option} == null || !lib.hasPrefix "${builtins.storeDir}/" cfg.${option};
      message = "services.gitops-bot.${option} points into the Nix store, which every user can read.";
    }) (builtins.attrNames credentials);

    users.users.gitops-bot = {
      isSystemUser = true;
      group = "gitops-bot";
      home = cfg.stateDir;
    };
    users.groups.gitops-bot = { };

    systemd.services = {
      gitops-bot-web = {
        description = "gitops-bot web workers (intake, status, admin)";
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        inherit environment;
        serviceConfig = hardening // {
          ExecStart = "${bot} serve --no-writer --bind 127.0.0.1:${toString cfg.web.port} --workers ${toString cfg.web.workers}";
          # gunicorn's own graceful stop: in-flight requests finish.
          KillSignal = "SIGTERM";
          TimeoutStopSec = "30s";
        };
      };
      gitops-bot-writer = {
        description = "gitops-bot writer (commits queued events to the state repo)";
        wantedBy = [ "multi-user.target" ];
        # The web unit creates the database on first start; the writer waits for it.
        after = [
          "network-online.target"
          "gitops-bot-web.service"
        ];
        wants = [ "network-online.target" ];
        inherit environment;
        serviceConfig = hardening // {
          ExecStart = "${bot} worker";
          TimeoutStopSec = "60s";
        };
      };
    };

    services.nginx = mkIf cfg.nginx.enable {
      enable = true;
      recommendedProxySettings = true;
      virtualHosts.${cfg.nginx.virtualHost} = {
        enableACME = cfg.nginx.enableACME;
        forceSSL = cfg.nginx.enableACME;
        locations."/" = {
          proxyPass = "http://127.0.0.1:${toString cfg.web.port}";
          # The bot's own 64 KiB body limit, enforced before a byte reaches it.
          extraConfig = ''
            client_max_body_size 64k;
            client_body_timeout ${cfg.nginx.clientBodyTimeout};
            proxy_request_buffering on;
          '';
        };
        extraConfig = ''
          client_header_timeout ${cfg.nginx.clientHeaderTimeout};
        '';
      };
    };

    networking.firewall.allowedTCPPorts = mkIf (cfg.openFirewall && cfg.nginx.enable) [
      80
      443
    ];
  };
}
