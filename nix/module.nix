# NixOS module: every tenants/<slug>.json placed on this host becomes a running environment
# (system user with a pinned uid, socket-activated app, PostgreSQL database, nginx route), and
# adding a tenant restarts nothing that already runs. The per-tenant units come from
# ./lib.nix, the options from ./options.nix; this file wires them to nixpkgs, and asserts
# that no two tenants, and no tenant and the host, share a name. docs/nixos.md explains it.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib)
    attrNames
    concatMap
    concatStringsSep
    escapeShellArgs
    filter
    filterAttrs
    hasPrefix
    mapAttrsToList
    mkDefault
    mkIf
    mkMerge
    optional
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
    postgresqlPort = config.services.postgresql.settings.port;
    allowedAddresses = cfg.app.allowedAddresses;
    tools = {
      touch = "${pkgs.coreutils}/bin/touch";
      psql = "${config.services.postgresql.package}/bin/psql";
    };
    appCommand = cfg.app.command;
    # Only the tenant's own app unit reads this: nothing shared lists the releases.
    packageOf =
      p:
      if p.release == null then
        (
          if cfg.app.package == null then
            throw "services.saasTenants: tenants/${p.slug}.json names no release and app.package is not set"
          else
            cfg.app.package
        )
      else
        cfg.app.releases.${p.release}
          or (throw "services.saasTenants: tenants/${p.slug}.json names release ${p.release}, which app.releases lacks");
    appServiceConfig = cfg.app.serviceConfig // {
      LoadCredential = mapAttrsToList (name: file: "${name}:${file}") cfg.secretFiles;
    };
    appExecStartPre = optional (cfg.generatedSecrets != [ ]) (
      "${generateSecrets} ${escapeShellArgs cfg.generatedSecrets}"
    );
    acmeWebroot = cfg.tls.acmeWebroot;
    # A key type of their own gives the HTTP-01 certificates an ACME account of their own:
    # nixpkgs serialises the orders that share an account behind the first of them, and
    # a failing DNS-01 wildcard order must not hold back every custom domain.
    customDomainCertificate.keyType = "ec384";
  };

  customDomains = concatMap (p: p.route.customDomains) plans;

  # Releases the inventory lets tenants name that this host could not run.
  missingReleases = filter (r: !(cfg.app.releases ? ${r})) (inventory.releases.known or [ ]);
  legacyTenants = filter (p: p.release == null) plans;

  # Names tenants take in an option that other modules define too. A definition from any
  # file but this one is the host's. namesIn looks inside the mkIf, mkMerge, mkOverride and
  # mkOrder that the module system leaves in a definition (it drops a false mkIf itself).
  ownFile = toString ./module.nix;
  namesIn =
    value:
    let
      kind = value._type or null;
    in
    if kind == "merge" then
      concatMap namesIn value.contents
    else if kind == "if" || kind == "override" || kind == "order" then
      namesIn value.content
    else if builtins.isAttrs value then
      attrNames value
    else
      [ ];
  hostDefined =
    option:
    concatMap (d: namesIn d.value) (filter (d: d.file != ownFile) option.definitionsWithLocations);
  tenantUsers = lib.genAttrs (map (p: p.user) plans) (_: true);
  hostUids = concatMap (u: optional (u.uid != null) u.uid) (
    builtins.attrValues (filterAttrs (name: _: !(tenantUsers ? ${name})) config.users.users)
  );
  hostGids = concatMap (g: optional (g.gid != null) g.gid) (
    builtins.attrValues (filterAttrs (name: _: !(tenantUsers ? ${name})) config.users.groups)
  );
  taken = what: ours: theirs:
    let
      theirSet = lib.genAttrs (map toString theirs) (_: true);
      both = unique (filter (n: theirSet ? ${toString n}) ours);
    in
    optional (both != [ ]) "${what} the host already has: ${concatStringsSep ", " (map toString both)}";
  hostClashes =
    taken "users" (map (p: p.user) plans) (hostDefined options.users.users)
    ++ taken "groups" (map (p: p.group) plans) (hostDefined options.users.groups)
    ++ taken "uids" (map (p: p.uid) plans) hostUids
    ++ taken "gids" (map (p: p.gid) plans) hostGids
    ++ taken "services" (concatMap (p: attrNames (tenantLib.tenantUnits settings p)) plans) (
      hostDefined options.systemd.services
    )
    ++ taken "sockets" (concatMap (p: attrNames (tenantLib.tenantSockets settings p)) plans) (
      hostDefined options.systemd.sockets
    )
    ++ taken "virtual hosts" (customDomains ++ map (p: p.route.subdomain) plans) (
      hostDefined options.services.nginx.virtualHosts
    )
    ++ taken "certificates" customDomains (hostDefined options.security.acme.certs);
in
{
  imports = [ ./options.nix ];

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = tenantLib.hostProblems plans == [ ];
        message = "services.saasTenants: ${concatStringsSep "; " (tenantLib.hostProblems plans)}";
      }
      {
        assertion = hostClashes == [ ];
        message = "services.saasTenants: tenants take ${concatStringsSep "; " hostClashes}";
      }
      {
        assertion = missingReleases == [ ];
        message = "services.saasTenants.app.releases has no package for ${concatStringsSep ", " missingReleases}, which nix/inventory.json lists in releases.known";
      }
      {
        assertion = legacyTenants == [ ] || cfg.app.package != null;
        message = "services.saasTenants.app.package is not set, yet ${
          concatStringsSep ", " (map (p: "tenants/${p.slug}.json") legacyTenants)
        } name no release";
      }
      {
        assertion = builtins.all (f: !hasPrefix builtins.storeDir f) (
          builtins.attrValues cfg.secretFiles
        );
        message = "services.saasTenants.secretFiles must not point into the Nix store";
      }
    ];

    # Pinned ids: NixOS allocates none for tenants, so the 400-999 system range never runs
    # out and a removed tenant's id is never handed to someone else (the bot never reuses
    # one). Each tenant's group has the tenant's uid as its gid.
    users.users = mkMerge (
      map (p: {
        ${p.user} = {
          isSystemUser = true;
          inherit (p) uid group;
          description = "Tenant ${p.slug}";
        };
      }) plans
    );
    users.groups = mkMerge (map (p: { ${p.group}.gid = p.gid; }) plans);

    systemd.sockets = mkMerge (map (tenantLib.tenantSockets settings) plans);

    systemd.services = mkMerge (
      [ (tenantLib.sharedUnits settings) ]
      ++ map (tenantLib.tenantUnits settings) plans
      # Custom-domain certificates order themselves before nginx's start and reload, so
      # `nginx -t` finds at least the self-signed placeholder that acme-<domain>.service
      # writes, and their HTTP-01 orders after nginx, which answers the challenge. The
      # relations live in the per-domain acme units (WantedBy= is a symlink in nginx's
      # .wants/ folder, not a line of its unit file), so nginx.service and
      # nginx-config-reload.service keep their unit files: the pattern nixpkgs' nginx
      # module uses for enableACME hosts since NixOS 25.11.
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
        "acme-order-renew-${domain}" = {
          after = [ "nginx.service" ];
          wants = [ "nginx.service" ];
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
      # Fixed for every fleet (nix/lib/nginx.nix says why): a 253-byte name fits, and no
      # tenant ever changes them.
      inherit (tenantLib.hashSizes) serverNamesHashBucketSize serverNamesHashMaxSize;
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
