# Pure core of the tenant fleet: load tenants/*.json, check every value again, and turn each
# tenant into its plan (names, paths, limits) and its units. Written with builtins only, so
# `nix-instantiate --eval` runs it without nixpkgs, and the NixOS module, `gitops-bot plan` and
# the tests all read the same rules from here. The parts live in ./lib/:
#   checks.nix  what a tenant file and the inventory must be
#   names.nix   every name derived from a tenant, and the check that none is shared
#   units.nix   systemd units and sockets
#   nginx.nix   virtual hosts and certificates
#
# The promise this file keeps: a tenant's plan and units are a function of that tenant's own
# file (plus the inventory and the host-wide settings), never of the other tenants, their
# order, their count or where the tenants/ folder lives. Nothing here may list all tenants
# into one value that a shared unit or nginx reads.
let
  checks = import ./lib/checks.nix;
  names = import ./lib/names.nix;
  units = import ./lib/units.nix;
  nginx = import ./lib/nginx.nix;

  inherit (checks) checkInventory loadTenants;
  inherit (names) tenantPlan;

  # Host-wide settings: the module passes its real values; `gitops-bot plan`, the tests and
  # the benchmark use these defaults, which only have to be the same at both revisions.
  defaultSettings = {
    nginxGroup = "nginx";
    database = true;
    postgresqlPort = 5432;
    allowedAddresses = null;
    tools = {
      touch = "touch";
      psql = "psql";
    };
    # Stand-ins for store paths: a release's package differs from the legacy one's, and the
    # legacy tenants' command reads as it did before releases.
    packageOf = p: if p.release == null then "tenant-app" else "tenant-app-${p.release}";
    appCommand = p: "${p.package} --state-directory ${p.statePath}";
    appServiceConfig = { };
    appExecStartPre = [ ];
    acmeWebroot = "/var/lib/acme/acme-challenge";
    customDomainCertificate = { };
  };

  hashOf = value: builtins.hashString "sha256" (builtins.toJSON value);

  withSuffix = suffix: attrs:
    builtins.listToAttrs (
      map (name: {
        name = "${name}.${suffix}";
        value = hashOf attrs.${name};
      }) (builtins.attrNames attrs)
    );

  # Everything a switch would act on for one tenant, with one fingerprint per unit and per
  # virtual host. `gitops-bot plan` diffs these between two revisions; the module builds the
  # same units from the same functions.
  tenantSummary = settings: p: {
    inherit (p) slug state plan domains user uid;
    units =
      withSuffix "service" (units.tenantUnits settings p)
      // withSuffix "socket" (units.tenantSockets settings p);
    virtualHosts = builtins.mapAttrs (_: hashOf) (nginx.tenantVirtualHosts settings p);
    certificates = builtins.mapAttrs (_: hashOf) (nginx.tenantCertificates settings p);
    fingerprint = hashOf p;
  };

  selectHost = host: tenants:
    builtins.listToAttrs (
      map (slug: {
        name = slug;
        value = tenants.${slug};
      }) (builtins.filter (slug: tenants.${slug}.host == host) (builtins.attrNames tenants))
    );

  # Plans of every tenant of `host`, by slug.
  hostPlans = { dir, inventory, host }:
    let
      inv = checkInventory inventory;
    in
    builtins.mapAttrs (_: tenantPlan inv) (selectHost host (loadTenants {
      inherit dir;
      inventory = inv;
    }));

  # The whole fleet as `gitops-bot plan` and the writer read it: hosts -> tenants -> summary,
  # and per host the names two tenants would share (none, for a valid fleet). `hosts`
  # limits the evaluation to some hosts: the writer asks for those its batch touches.
  fleetSummary = { dir, inventory, settings ? defaultSettings, hosts ? null }:
    let
      inv = checkInventory inventory;
      tenants = loadTenants {
        inherit dir;
        inventory = inv;
      };
      wanted = builtins.filter (h: hosts == null || builtins.elem h hosts) (builtins.attrNames inv.hosts);
      # One plan per tenant, shared by the fingerprints and the problems below.
      plansOn = builtins.listToAttrs (
        map (host: {
          name = host;
          value = builtins.mapAttrs (_: tenantPlan inv) (selectHost host tenants);
        }) wanted
      );
    in
    {
      inherit (names) naming;
      baseDomain = inv.baseDomain;
      sharedNginx = hashOf (nginx.sharedVirtualHosts settings inv.baseDomain);
      hosts = builtins.mapAttrs (_: builtins.mapAttrs (_: tenantSummary settings)) plansOn;
      problems = builtins.mapAttrs (_: plans: names.hostProblems (builtins.attrValues plans)) plansOn;
      # Tenants placed on a host the inventory does not have: nothing would run them.
      unplaced = builtins.filter (slug: !(inv.hosts ? ${tenants.${slug}.host})) (
        builtins.attrNames tenants
      );
    };
in
checks
// names
// units
// nginx
// {
  inherit
    defaultSettings
    hashOf
    tenantSummary
    selectHost
    hostPlans
    fleetSummary
    ;
}
