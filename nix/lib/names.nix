# Every name the fleet derives from a tenant, and the proof obligation that comes with them:
# no two tenants of a host may share one. docs/nixos.md explains the scheme.
#
# Units are instances, `tenant-<kind>@<slug>.<type>`: '@' cannot occur in a slug and the
# kinds are fixed words, so `alpha-db` and `alpha`'s database can never meet. Paths keep the
# slug as one whole path component. Users carry the slug when it fits Linux's 31-byte user
# names, and the tenant's pinned uid (unique in the fleet) when it does not.
let
  inherit (builtins)
    attrNames
    attrValues
    concatMap
    filter
    groupBy
    hashString
    length
    mapAttrs
    stringLength
    substring
    ;

  # The naming scheme's version; `gitops-bot plan` announces the migration when it changes.
  # 1: tenant-<slug>.service, tenant-<slug>-db.service, tenant-<slug>-route.service.
  naming = 2;

  # Linux user names stay under 32 bytes and PostgreSQL's peer authentication needs the
  # role to equal the user, so both come from here. "tenant-" and "t-" differ in their
  # second byte, the first form is injective in the slug and the second in the uid.
  userNameOf = slug: uid:
    if stringLength slug <= 24 then "tenant-${slug}" else "t-${substring 0 16 slug}-${toString uid}";

  # What naming 1 called a long slug's user, role and database: a 32-bit hash, which a
  # determined customer could collide. The database unit renames them once.
  legacyUserNameOf = slug:
    if stringLength slug <= 24 then
      "tenant-${slug}"
    else
      "t-${substring 0 20 slug}-${substring 0 8 (hashString "sha256" slug)}";

  # Everything the module derives for one tenant, as plain data.
  tenantPlan = inventory: t:
    let
      slug = t.slug;
      user = userNameOf slug t.uid;
      limits = inventory.plans.${t.plan};
    in
    {
      inherit slug user;
      inherit (t) uid host plan state domains;
      # Which of app.releases runs the app; null for the legacy app.package. Only this
      # tenant's app unit reads it (its ExecStart), so a new release restarts this tenant only.
      release = t.release or null;
      gid = t.uid;
      active = t.state == "active";
      group = user;
      legacyUser = legacyUserNameOf slug;
      units = {
        app = "tenant-app@${slug}.service";
        socket = "tenant-app@${slug}.socket";
        database = "tenant-db@${slug}.service";
        route = "tenant-route@${slug}.service";
      };
      # The socket belongs to systemd, in a folder only root may write, so the tenant's app
      # cannot swap it for a link to someone else's.
      socket = "/run/tenant-sockets/${slug}.sock";
      runtimeDirectory = "tenants/${slug}";
      runtimePath = "/run/tenants/${slug}";
      stateDirectory = "tenants/${slug}";
      statePath = "/var/lib/tenants/${slug}";
      cacheDirectory = "tenants/${slug}";
      logsDirectory = "tenants/${slug}";
      routeDirectory = "tenant-routes/${slug}";
      routeMarker = "/run/tenant-routes/${slug}/${t.state}";
      database = {
        name = user;
        role = user;
      };
      route = {
        subdomain = "${slug}.${inventory.baseDomain}";
        customDomains = t.domains;
      };
      # Held for the tenant while DNS proves its owner's control: no vhost, no certificate.
      pendingDomains = t.pendingDomains or [ ];
      limits = {
        MemoryMax = limits.memoryMax;
        CPUQuota = limits.cpuQuota;
      };
      idleStop = limits.idleStop or null;
    };

  # Each namespace a host shares between its tenants, with the names one tenant takes in it.
  # Directory names are relative to their systemd base (/var/lib, /run, /var/cache,
  # /var/log), and each base is a namespace of its own.
  namespacesOf = p: {
    units = attrValues p.units;
    users = [ p.user ];
    groups = [ p.group ];
    uids = [ (toString p.uid) ];
    gids = [ (toString p.gid) ];
    postgresqlRoles = [ p.database.role ];
    postgresqlDatabases = [ p.database.name ];
    stateDirectories = [ p.stateDirectory ];
    runtimeDirectories = [ p.runtimeDirectory p.routeDirectory ];
    cacheDirectories = [ p.cacheDirectory ];
    logsDirectories = [ p.logsDirectory ];
    sockets = [ p.socket ];
    serverNames = [ p.route.subdomain ] ++ p.route.customDomains ++ p.pendingDomains;
    certificates = p.route.customDomains;
  };

  # Names two tenants of one host would share, as messages that name both tenant files.
  # Empty for every valid fleet; the module asserts it, the writer refuses an event that
  # would make it non-empty, and tests/system/test_fleet_validity.py checks the scheme itself.
  # A namespace is counted first (a set of its names is as large as their list when none
  # repeats), and only a namespace with a repeat is searched for who shares what: the check
  # costs little on every valid host, which is every host the writer lets through.
  hostProblems = plans:
    let
      spacesOf = map (p: { inherit (p) slug; spaces = namespacesOf p; }) plans;
      spaceNames = if spacesOf == [ ] then [ ] else attrNames (builtins.head spacesOf).spaces;
      namesIn = space: concatMap (t: t.spaces.${space}) spacesOf;
      distinct = names: length (attrNames (builtins.listToAttrs (map (name: { inherit name; value = null; }) names)));
      repeats = space: let names = namesIn space; in distinct names != length names;
      describe = space:
        let
          byName = groupBy (e: e.name) (
            concatMap (t: map (name: { inherit name; inherit (t) slug; }) t.spaces.${space}) spacesOf
          );
          shared = filter (name: length byName.${name} > 1) (attrNames byName);
          files = name: map (e: "tenants/${e.slug}.json") byName.${name};
        in
        map (name: "${builtins.concatStringsSep " and " (files name)} share ${space} name ${name}") shared;
    in
    concatMap describe (filter repeats spaceNames);
in
{
  inherit
    naming
    userNameOf
    legacyUserNameOf
    tenantPlan
    namespacesOf
    hostProblems
    ;
  # Exposed for the tests that compare the scheme with its Python twin.
  planOf = inventory: tenants: mapAttrs (_: tenantPlan inventory) tenants;
}
