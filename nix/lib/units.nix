# The systemd units of one tenant (app, its socket, database, route marker) and the few shared
# ones, as NixOS option values. Each tenant's units are a function of its own plan and the
# host-wide settings, never of the other tenants. Builtins only.
let
  inherit (builtins) match elemAt fromJSON;

  optionalAttrs = cond: attrs: if cond then attrs else { };

  # "90s", "15min", "1h" (checks.nix lets nothing else through) in seconds.
  seconds = span:
    let
      parts = match "([0-9]+)(s|min|h)" span;
      n = fromJSON (elemAt parts 0);
      unit = elemAt parts 1;
    in
    n * { s = 1; min = 60; h = 3600; }.${unit};

  # Every tenant process runs with these; docs/nixos.md says why each is there.
  hardening = {
    NoNewPrivileges = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateIPC = true;
    RemoveIPC = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectProc = "invisible";
    ProcSubset = "pid";
    LockPersonality = true;
    MemoryDenyWriteExecute = false; # JIT runtimes (node, the JVM, PyPy) need W+X pages
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" ];
    CapabilityBoundingSet = [ "" ];
    UMask = "0077";
  };

  # Outbound network of the app: null leaves it open; a list allows those addresses only
  # (systemd's IPAddressAllow= syntax: CIDRs, "localhost", "link-local", "multicast").
  networkLimits = allowed:
    optionalAttrs (allowed != null) {
      IPAddressDeny = [ "any" ];
      IPAddressAllow = allowed;
    };

  # SQL identifiers and literals built from a checked user name: [a-z0-9-] only, so quoting
  # is enough and nothing can close the quotes. A role or database that naming 1 gave a
  # long slug is renamed once; the app is stopped then, since its unit was renamed too.
  databaseScript = settings: p: ''
    set -eu
    ${settings.tools.psql} -v ON_ERROR_STOP=1 --no-psqlrc <<'SQL'
    ${
      if p.legacyUser != p.user then
        ''
          SELECT 'ALTER ROLE "${p.legacyUser}" RENAME TO "${p.database.role}"'
            WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = '${p.legacyUser}')
              AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${p.database.role}')\gexec
          SELECT 'ALTER DATABASE "${p.legacyUser}" RENAME TO "${p.database.name}"'
            WHERE EXISTS (SELECT FROM pg_database WHERE datname = '${p.legacyUser}')
              AND NOT EXISTS (SELECT FROM pg_database WHERE datname = '${p.database.name}')\gexec
        ''
      else
        ""
    }SELECT 'CREATE ROLE "${p.database.role}" LOGIN'
      WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${p.database.role}')\gexec
    SELECT 'CREATE DATABASE "${p.database.name}" OWNER "${p.database.role}"'
      WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${p.database.name}')\gexec
    REVOKE ALL ON DATABASE "${p.database.name}" FROM PUBLIC;
    GRANT ALL ON DATABASE "${p.database.name}" TO "${p.database.role}";
    SQL
  '';

  # A oneshot that talks to PostgreSQL as its superuser, over the unix socket only.
  postgresqlOneshot = hardening // {
    Type = "oneshot";
    RemainAfterExit = true;
    User = "postgres";
    Group = "postgres";
    PrivateNetwork = true;
    RestrictAddressFamilies = [ "AF_UNIX" ];
  };

  postgresqlEnvironment = settings: {
    PGHOST = "/run/postgresql";
    PGPORT = toString settings.postgresqlPort;
  };

  # systemd.services entries (NixOS option syntax) for one tenant. Keys are unit names
  # without ".service". A suspended tenant has no app and no socket, so a switch stops both.
  tenantUnits = settings: p:
    let
      route = {
        description = "Route state of tenant ${p.slug}";
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          # The marker lives as long as this unit: removing the tenant removes its route.
          RuntimeDirectory = p.routeDirectory;
          RuntimeDirectoryMode = "0755";
          ExecStart = "${settings.tools.touch} ${p.routeMarker}";
        };
      };
      database = {
        description = "Database and role of tenant ${p.slug}";
        wantedBy = [ "multi-user.target" ];
        # Wants, not Requires: a restart of PostgreSQL must not propagate to every tenant.
        wants = [ "postgresql.target" ];
        after = [ "postgresql.target" "postgresql.service" ];
        environment = postgresqlEnvironment settings;
        script = databaseScript settings p;
        serviceConfig = postgresqlOneshot;
      };
      app = {
        description = "Tenant ${p.slug}";
        # An idle-stopping plan starts on its first request only; the others at boot too.
        wantedBy = if p.idleStop == null then [ "multi-user.target" ] else [ ];
        # The socket is the app's only way in; without it the app would have nothing to serve.
        requires = [ p.units.socket ];
        # A changed app is restarted on its own; by default switch-to-configuration would stop
        # its socket too and start only the socket, closing the listening fd meanwhile.
        stopIfChanged = false;
        # Wants, not Requires: re-running the database unit must not restart the app.
        wants = if settings.database then [ p.units.database ] else [ ];
        after = [ "network.target" p.units.socket ]
          ++ (if settings.database then [ p.units.database ] else [ ]);
        environment = {
          TENANT_SLUG = p.slug;
          TENANT_STATE_DIRECTORY = p.statePath;
        }
        // optionalAttrs (p.idleStop != null) { TENANT_IDLE_STOP_SECONDS = toString (seconds p.idleStop); }
        // optionalAttrs settings.database (
          postgresqlEnvironment settings
          // {
            PGDATABASE = p.database.name;
            PGUSER = p.database.role;
          }
        );
        serviceConfig = hardening // networkLimits settings.allowedAddresses // p.limits
          // settings.appServiceConfig // {
          User = p.user;
          Group = p.group;
          # The command sees the tenant's own package, the one its release names.
          ExecStart = settings.appCommand (p // { package = settings.packageOf p; });
          ExecStartPre = settings.appExecStartPre;
          RuntimeDirectory = p.runtimeDirectory;
          RuntimeDirectoryMode = "0700";
          StateDirectory = p.stateDirectory;
          StateDirectoryMode = "0700";
          CacheDirectory = p.cacheDirectory;
          CacheDirectoryMode = "0700";
          LogsDirectory = p.logsDirectory;
          LogsDirectoryMode = "0700";
          # An idle stop is a clean exit: the socket starts the app again on the next request.
          Restart = "on-failure";
          RestartSec = "5s";
        };
      };
    in
    {
      "tenant-route@${p.slug}" = route;
    }
    // optionalAttrs settings.database { "tenant-db@${p.slug}" = database; }
    // optionalAttrs p.active { "tenant-app@${p.slug}" = app; };

  # systemd.sockets entries for one tenant. systemd creates the socket as root, for nginx's
  # group only, in /run/tenant-sockets/ (root's, mode 0755): the tenant can neither connect
  # another tenant's socket nor replace its own. The socket outlives every restart of the
  # app, so connections made meanwhile wait in its backlog instead of being refused.
  tenantSockets = settings: p:
    optionalAttrs p.active {
      "tenant-app@${p.slug}" = {
        description = "Socket of tenant ${p.slug}";
        wantedBy = [ "sockets.target" ];
        listenStreams = [ p.socket ];
        socketConfig = {
          SocketUser = "root";
          SocketGroup = settings.nginxGroup;
          SocketMode = "0660";
          DirectoryMode = "0755";
          # A stopped socket may leave its file (systemd.socket(5) advises against
          # RemoveOnStop=): connecting to it is refused, which nginx answers like no file.
          Backlog = 512;
        };
      };
    };

  # Shared units: the same for every fleet, so no tenant change edits them, and no tenant
  # unit Requires them.
  sharedUnits = settings:
    optionalAttrs settings.database {
      # Every role may CONNECT and create TEMP tables in postgres and template1 unless told
      # otherwise: revoked once, so a tenant's role sees its own database only.
      tenants-postgresql-public = {
        description = "Revoke PUBLIC's access to the shared PostgreSQL databases";
        wantedBy = [ "multi-user.target" ];
        wants = [ "postgresql.target" ];
        after = [ "postgresql.target" "postgresql.service" ];
        environment = postgresqlEnvironment settings;
        script = ''
          set -eu
          ${settings.tools.psql} -v ON_ERROR_STOP=1 --no-psqlrc <<'SQL'
          REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
          REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;
          SQL
        '';
        serviceConfig = postgresqlOneshot;
      };
    };
in
{
  inherit
    hardening
    seconds
    tenantUnits
    tenantSockets
    sharedUnits
    ;
}
