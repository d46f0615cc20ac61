# Pure core of the tenant fleet: load tenants/*.json, check every value again, and turn each
# tenant into its plan (names, paths, limits) and its units. Written with builtins only, so
# `nix-instantiate --eval` runs it without nixpkgs, and the NixOS module, `gitops-bot plan` and
# the tests all read the same rules from here.
#
# The promise this file keeps: a tenant's plan and units are a function of that tenant's own
# file (plus the inventory and the host-wide settings), never of the other tenants, their
# order, their count or where the tenants/ folder lives. Nothing here may list all tenants
# into one value that a shared unit or nginx reads.
let
  inherit (builtins)
    all
    attrNames
    elem
    filter
    foldl'
    hashString
    head
    isAttrs
    isList
    isString
    length
    listToAttrs
    match
    readDir
    readFile
    replaceStrings
    sort
    split
    stringLength
    substring
    throw
    toJSON
    ;

  # Kept equal to gitops_bot.tenant.RESERVED_SLUGS; tests/test_nix.py compares the two.
  reservedSlugs = [
    "admin" "api" "app" "assets" "auth" "autoconfig" "autodiscover" "billing" "blog" "cdn"
    "console" "dashboard" "dev" "dns" "docs" "ftp" "git" "help" "imap" "internal" "localhost"
    "login" "mail" "metrics" "mx" "ns1" "ns2" "pop" "root" "smtp" "sso" "staging" "static"
    "status" "support" "test" "webhooks" "webmail" "www"
  ];

  # POSIX extended regexes, matched against the whole string by builtins.match. Bracket
  # expressions list every allowed byte, so quotes, ';', '/', '.', '$', '{', spaces and
  # newlines can never match.
  slugRe = "[a-z0-9][a-z0-9-]{1,38}[a-z0-9]";
  labelRe = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
  identifierRe = "[a-z][a-z0-9-]{0,62}";
  tenantFileRe = "([a-z0-9][a-z0-9-]*)\\.json";
  memoryRe = "[0-9]+[KMGT]?";
  cpuRe = "[0-9]+%";

  matches = re: value: isString value && match re value != null;

  # RFC 5891 keeps "--" in the third and fourth positions for punycode (xn--).
  punycodeLike = label: substring 2 2 label == "--";

  labelsOf = name: filter isString (split "\\." name);

  hasSuffix = suffix: s:
    let
      n = stringLength s;
      m = stringLength suffix;
    in
    n >= m && substring (n - m) m s == suffix;

  uniqueSorted = list:
    foldl' (acc: x: if acc != [ ] && x == head acc then acc else [ x ] ++ acc) [ ] (
      sort (a: b: a > b) list
    );

  optionalAttrs = cond: attrs: if cond then attrs else { };

  slugProblem = slug:
    if !isString slug then
      "is not a string"
    else if match slugRe slug == null then
      "is not a safe DNS label (3-40 of a-z, 0-9 and inner '-')"
    else if punycodeLike slug then
      "has '--' in the third and fourth positions (punycode)"
    else if elem slug reservedSlugs then
      "is reserved"
    else
      null;

  hostnameProblem = name:
    let
      labels = labelsOf name;
    in
    if !isString name then
      "is not a string"
    else if stringLength name > 253 then
      "is longer than 253 characters"
    else if match "[a-z0-9.-]+" name == null then
      "is not a lowercase DNS hostname"
    else if length labels < 2 then
      "needs at least two labels"
    else if !all (matches labelRe) labels then
      "has a label that is not a lowercase DNS label"
    else if !all (l: !punycodeLike l) labels then
      "has a punycode or reserved label ('--' in positions 3-4)"
    else if match "[a-z]+" (foldl' (_: l: l) "" labels) == null then
      "has a top-level domain that is not letters"
    else
      null;

  # Inventory values reach unit files and nginx too, so they get the same treatment.
  checkInventory = inventory:
    let
      fail = what: throw "nix/inventory.json: ${what}";
      base = inventory.baseDomain or (fail "baseDomain is missing");
      baseProblem = hostnameProblem base;
      planProblems = filter (p: p != null) (
        map (
          name:
          let
            plan = inventory.plans.${name};
          in
          if !matches identifierRe name then
            "plan name ${toJSON name} is not an identifier"
          else if !isAttrs plan then
            "plans.${name} is not an object"
          else if !matches memoryRe (plan.memoryMax or null) then
            "plans.${name}.memoryMax is not like 512M or 4G"
          else if !matches cpuRe (plan.cpuQuota or null) then
            "plans.${name}.cpuQuota is not like 50%"
          else
            null
        ) (attrNames (inventory.plans or (fail "plans is missing")))
      );
    in
    if baseProblem != null then
      fail "baseDomain ${toJSON base} ${baseProblem}"
    else if planProblems != [ ] then
      fail (head planProblems)
    else
      inventory;

  # One file in, one checked tenant out; `name` is the file name, never the folder's path, so
  # the messages and the result do not depend on where tenants/ lives.
  loadTenant = { inventory, dir, name }:
    let
      where = "tenants/${name}";
      fail = what: throw "${where}: ${what}";
      raw = builtins.addErrorContext "while loading ${where}" (
        builtins.fromJSON (readFile (dir + "/${name}"))
      );
      fileSlug = head (match tenantFileRe name);
      slug = raw.slug or (fail "slug is missing");
      slugWhy = slugProblem slug;
      domains = raw.domains or [ ];
      domainProblems = filter (p: p != null) (
        map (
          d:
          let
            why = hostnameProblem d;
          in
          if why != null then
            "domain ${toJSON d} ${why}"
          else if d == inventory.baseDomain || hasSuffix ".${inventory.baseDomain}" d then
            "domain ${toJSON d} is under the base domain ${inventory.baseDomain}"
          else
            null
        ) (if isList domains then domains else [ ])
      );
      host = raw.host or (fail "host is missing");
      plan = raw.plan or (fail "plan is missing");
      state = raw.state or (fail "state is missing");
    in
    if !isAttrs raw then
      fail "is not a JSON object"
    else if slugWhy != null then
      fail "slug ${toJSON slug} ${slugWhy}"
    else if slug != fileSlug then
      fail "slug ${toJSON slug} does not match the file name"
    else if (raw.schemaVersion or null) != 1 then
      fail "schemaVersion must be 1"
    else if !isList domains then
      fail "domains must be a list"
    else if domainProblems != [ ] then
      fail (head domainProblems)
    else if !matches identifierRe host then
      fail "host ${toJSON host} is not an identifier"
    else if !matches identifierRe plan then
      fail "plan ${toJSON plan} is not an identifier"
    else if !(inventory.plans ? ${plan}) then
      fail "plan ${toJSON plan} is not in nix/inventory.json"
    else if state != "active" && state != "suspended" then
      fail "state ${toJSON state} is neither active nor suspended"
    else
      {
        inherit slug host plan state;
        domains = uniqueSorted domains;
      };

  # Linux user names stay under 32 bytes; peer authentication needs the PostgreSQL role to
  # equal the user name, so both come from here. Long slugs keep a readable prefix and a hash.
  userNameOf = slug:
    if stringLength slug <= 24 then
      "tenant-${slug}"
    else
      "t-${substring 0 20 slug}-${substring 0 8 (hashString "sha256" slug)}";

  escapeRegex = s: replaceStrings [ "." ] [ "\\." ] s;

  # Host-wide settings: the module passes its real values; `gitops-bot plan`, the tests and
  # the benchmark use these defaults, which only have to be the same at both revisions.
  defaultSettings = {
    nginxGroup = "nginx";
    database = true;
    tools = {
      touch = "touch";
      chgrp = "chgrp";
      chmod = "chmod";
      psql = "psql";
    };
    appCommand = p: "tenant-app --socket ${p.socket} --state-directory ${p.statePath}";
    appServiceConfig = { };
    appExecStartPre = [ ];
    acmeWebroot = "/var/lib/acme/acme-challenge";
  };

  # Everything the module derives for one tenant, as plain data.
  tenantPlan = inventory: t:
    let
      slug = t.slug;
      user = userNameOf slug;
      limits = inventory.plans.${t.plan};
    in
    {
      inherit slug user;
      inherit (t) host plan state domains;
      active = t.state == "active";
      group = user;
      units = {
        app = "tenant-${slug}.service";
        database = "tenant-${slug}-db.service";
        route = "tenant-${slug}-route.service";
      };
      runtimeDirectory = "tenants/${slug}";
      socketDirectory = "/run/tenants/${slug}";
      socket = "/run/tenants/${slug}/http.sock";
      stateDirectory = "tenants/${slug}";
      statePath = "/var/lib/tenants/${slug}";
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
      limits = {
        MemoryMax = limits.memoryMax;
        CPUQuota = limits.cpuQuota;
      };
    };

  # SQL identifiers and literals built from a checked user name: [a-z0-9-] only, so quoting
  # is enough and nothing can close the quotes.
  databaseScript = settings: p: ''
    set -eu
    ${settings.tools.psql} -v ON_ERROR_STOP=1 --no-psqlrc <<'SQL'
    SELECT 'CREATE ROLE "${p.database.role}" LOGIN'
      WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${p.database.role}')\gexec
    SELECT 'CREATE DATABASE "${p.database.name}" OWNER "${p.database.role}"'
      WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${p.database.name}')\gexec
    REVOKE ALL ON DATABASE "${p.database.name}" FROM PUBLIC;
    GRANT ALL ON DATABASE "${p.database.name}" TO "${p.database.role}";
    SQL
  '';

  # systemd.services entries (NixOS option syntax) for one tenant. Keys are unit names
  # without ".service". A suspended tenant has no app unit, so a switch stops it.
  tenantUnits = settings: p:
    let
      hardening = {
        NoNewPrivileges = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        ProtectClock = true;
        ProtectControlGroups = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectProc = "invisible";
        LockPersonality = true;
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        SystemCallArchitectures = "native";
        CapabilityBoundingSet = [ "" ];
      };
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
        script = databaseScript settings p;
        serviceConfig = hardening // {
          Type = "oneshot";
          RemainAfterExit = true;
          User = "postgres";
          Group = "postgres";
          PrivateNetwork = true;
          RestrictAddressFamilies = [ "AF_UNIX" ];
        };
      };
      app = {
        description = "Tenant ${p.slug}";
        wantedBy = [ "multi-user.target" ];
        # Wants, not Requires: re-running the database unit must not restart the app.
        wants = if settings.database then [ p.units.database ] else [ ];
        after = [ "network.target" ] ++ (if settings.database then [ p.units.database ] else [ ]);
        environment = {
          TENANT_SLUG = p.slug;
          TENANT_SOCKET = p.socket;
          TENANT_STATE_DIRECTORY = p.statePath;
        }
        // optionalAttrs settings.database {
          PGHOST = "/run/postgresql";
          PGDATABASE = p.database.name;
          PGUSER = p.database.role;
        };
        serviceConfig = hardening // p.limits // settings.appServiceConfig // {
          User = p.user;
          Group = p.group;
          ExecStart = settings.appCommand p;
          # The socket directory belongs to the tenant's user and to nginx's primary group,
          # a group nginx has had since it started: a new tenant needs no nginx restart, and
          # other tenants (neither owner nor group) cannot connect. setgid makes the socket
          # inherit the group; UMask 0007 lets that group connect.
          RuntimeDirectory = p.runtimeDirectory;
          RuntimeDirectoryMode = "0750";
          ExecStartPre = [
            "+${settings.tools.chgrp} ${settings.nginxGroup} ${p.socketDirectory}"
            "+${settings.tools.chmod} 2750 ${p.socketDirectory}"
          ] ++ settings.appExecStartPre;
          UMask = "0007";
          StateDirectory = p.stateDirectory;
          StateDirectoryMode = "0700";
          Restart = "on-failure";
          RestartSec = "5s";
        };
      };
    in
    {
      "tenant-${p.slug}-route" = route;
    }
    // optionalAttrs settings.database { "tenant-${p.slug}-db" = database; }
    // optionalAttrs p.active { "tenant-${p.slug}" = app; };

  # What nginx does when the tenant's socket does not answer: the route marker, written by the
  # tenant's own route unit, tells a suspended tenant (503) from an unknown name (404). The
  # text is the same for every tenant, so no tenant change edits nginx's configuration.
  unavailableLocation = ''
    default_type text/html;
    add_header Cache-Control "no-store" always;
    if (-f /run/tenant-routes/$tenant/suspended) {
      return 503 "<!doctype html><title>Suspended</title><h1>This site is suspended</h1><p>Please contact support.</p>\n";
    }
    if (-f /run/tenant-routes/$tenant/active) {
      return 502 "<!doctype html><title>Unavailable</title><h1>This site is starting or unavailable</h1><p>Please retry in a minute.</p>\n";
    }
    return 404 "<!doctype html><title>Not found</title><h1>No site here</h1>\n";
  '';

  proxyLocations = socketExpr: {
    "/" = {
      proxyPass = "http://unix:${socketExpr}:";
      recommendedProxySettings = true;
      extraConfig = ''
        error_page 502 504 = @tenant_unavailable;
      '';
    };
    "@tenant_unavailable".extraConfig = unavailableLocation;
  };

  # services.nginx.virtualHosts entries of one tenant: its custom domains only. The
  # certificate is referenced by path, not through enableACME/useACMEHost, so nginx.service
  # itself never learns about per-tenant certificates (see docs/nixos.md).
  tenantVirtualHosts = settings: p:
    listToAttrs (
      map (domain: {
        name = domain;
        value = {
          onlySSL = true;
          sslCertificate = "/var/lib/acme/${domain}/fullchain.pem";
          sslCertificateKey = "/var/lib/acme/${domain}/key.pem";
          extraConfig = ''
            set $tenant ${p.slug};
          '';
          locations = proxyLocations p.socket;
        };
      }) p.route.customDomains
    );

  # security.acme.certs entries of one tenant: HTTP-01 through the shared port-80 server.
  tenantCertificates = settings: p:
    listToAttrs (
      map (domain: {
        name = domain;
        value = {
          webroot = settings.acmeWebroot;
          group = settings.nginxGroup;
          reloadServices = [ "nginx.service" ];
        };
      }) p.route.customDomains
    );

  # The fleet-wide nginx parts. They depend on the base domain and settings only.
  sharedVirtualHosts = settings: baseDomain: {
    "tenants-wildcard" = {
      serverName = "~^(?<tenant>[a-z0-9-]+)\\.${escapeRegex baseDomain}$";
      onlySSL = true;
      useACMEHost = baseDomain;
      locations = proxyLocations "/run/tenants/$tenant/http.sock";
    };
    "tenants-default" = {
      serverName = "_";
      default = true;
      rejectSSL = true;
      locations."^~ /.well-known/acme-challenge/".root = settings.acmeWebroot;
      locations."/".return = "301 https://$host$request_uri";
    };
  };

  hashOf = value: hashString "sha256" (toJSON value);

  # Everything a switch would act on for one tenant, with one fingerprint per unit and per
  # virtual host. `gitops-bot plan` diffs these between two revisions; the module builds the
  # same units from the same functions.
  tenantSummary = settings: p: {
    inherit (p) slug state plan domains user;
    units = builtins.mapAttrs (_: hashOf) (tenantUnits settings p);
    virtualHosts = builtins.mapAttrs (_: hashOf) (tenantVirtualHosts settings p);
    certificates = builtins.mapAttrs (_: hashOf) (tenantCertificates settings p);
    fingerprint = hashOf p;
  };

  loadTenants = { dir, inventory }:
    let
      inv = checkInventory inventory;
      entries = readDir dir;
      names = filter (n: entries.${n} == "regular" && match tenantFileRe n != null) (
        attrNames entries
      );
    in
    listToAttrs (
      map (
        name:
        let
          t = loadTenant {
            inherit dir name;
            inventory = inv;
          };
        in
        {
          name = t.slug;
          value = t;
        }
      ) names
    );

  selectHost = host: tenants:
    listToAttrs (
      map (slug: {
        name = slug;
        value = tenants.${slug};
      }) (filter (slug: tenants.${slug}.host == host) (attrNames tenants))
    );

  readInventory = file: checkInventory (builtins.fromJSON (readFile file));
in
rec {
  inherit
    reservedSlugs
    slugProblem
    hostnameProblem
    checkInventory
    readInventory
    loadTenant
    loadTenants
    selectHost
    userNameOf
    tenantPlan
    tenantUnits
    tenantVirtualHosts
    tenantCertificates
    sharedVirtualHosts
    tenantSummary
    defaultSettings
    hashOf
    escapeRegex
    ;

  # Plans of every tenant of `host`, by slug.
  hostPlans = { dir, inventory, host }:
    let
      inv = checkInventory inventory;
    in
    builtins.mapAttrs (_: tenantPlan inv) (selectHost host (loadTenants {
      inherit dir;
      inventory = inv;
    }));

  # The whole fleet as `gitops-bot plan` reads it: hosts -> tenants -> summary.
  fleetSummary = { dir, inventory, settings ? defaultSettings }:
    let
      inv = checkInventory inventory;
      tenants = loadTenants {
        inherit dir;
        inventory = inv;
      };
      shared = hashOf (sharedVirtualHosts settings inv.baseDomain);
    in
    {
      baseDomain = inv.baseDomain;
      sharedNginx = shared;
      hosts = builtins.mapAttrs (
        host: _: builtins.mapAttrs (_: t: tenantSummary settings (tenantPlan inv t)) (selectHost host tenants)
      ) inv.hosts;
      # Tenants placed on a host the inventory does not have: nothing would run them.
      unplaced = filter (slug: !(inv.hosts ? ${tenants.${slug}.host})) (attrNames tenants);
    };
}
