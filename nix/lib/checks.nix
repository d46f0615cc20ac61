# What a tenant file and the inventory must be before anything is derived from them: every
# value is checked again here with builtins.match, whatever the bot's checker already said,
# because these values end up in unit files, SQL and nginx. Builtins only.
let
  inherit (builtins)
    all
    attrNames
    elem
    filter
    foldl'
    head
    isAttrs
    isInt
    isList
    isString
    length
    listToAttrs
    match
    readDir
    readFile
    sort
    split
    stringLength
    substring
    throw
    toJSON
    ;

  # Kept equal to gitops_bot.contract.tenant.RESERVED_SLUGS; tests/system/test_nix.py compares the two.
  reservedSlugs = [
    "admin" "api" "app" "assets" "auth" "autoconfig" "autodiscover" "billing" "blog" "cdn"
    "console" "dashboard" "dev" "dns" "docs" "ftp" "git" "help" "imap" "internal" "localhost"
    "login" "mail" "metrics" "mx" "ns1" "ns2" "pop" "root" "smtp" "sso" "staging" "static"
    "status" "support" "test" "webhooks" "webmail" "www"
  ];

  # Tenant uids and gids, pinned in each tenant file and never reused. The block sits where
  # systemd's docs/UIDS-GIDS.md lists nothing (above systemd-nspawn's container ranges,
  # below the foreign range and 2^31) and far above NixOS's own allocations (system users
  # 400-999, normal users 1000-29999, their subuid ranges from 100000). Kept equal to
  # gitops_bot.contract.tenant.UID_RANGE; tests/system/test_nix.py compares the two.
  uidRange = {
    first = 1879048192; # 0x70000000
    last = 1895825407; # 0x70ffffff: 16,777,216 tenants in a fleet's lifetime
  };

  # POSIX extended regexes, matched against the whole string by builtins.match. Bracket
  # expressions list every allowed byte, so quotes, ';', '/', '.', '$', '{', spaces and
  # newlines can never match.
  slugRe = "[a-z0-9][a-z0-9-]{1,38}[a-z0-9]";
  labelRe = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
  identifierRe = "[a-z][a-z0-9-]{0,62}";
  tenantFileRe = "([a-z0-9][a-z0-9-]*)\\.json";
  memoryRe = "[0-9]+[KMGT]?";
  cpuRe = "[0-9]+%";
  # systemd time spans as the inventory may write them for idle stops: 90s, 15min, 1h.
  idleRe = "[1-9][0-9]{0,5}(s|min|h)";
  # A key of app.releases, as gitops_bot.contract.tenant.ReleaseName spells it. It only ever
  # selects an attribute; no file name, unit name or SQL is built from it.
  releaseRe = "[0-9A-Za-z][0-9A-Za-z._-]{0,62}";

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

  uidProblem = uid:
    if !isInt uid then
      "is not an integer"
    else if uid < uidRange.first || uid > uidRange.last then
      "is outside the tenant range ${toString uidRange.first}-${toString uidRange.last}"
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

  planProblem = name: plan:
    if !matches identifierRe name then
      "plan name ${toJSON name} is not an identifier"
    else if !isAttrs plan then
      "plans.${name} is not an object"
    else if !matches memoryRe (plan.memoryMax or null) then
      "plans.${name}.memoryMax is not like 512M or 4G"
    else if !matches cpuRe (plan.cpuQuota or null) then
      "plans.${name}.cpuQuota is not like 50%"
    else if plan ? idleStop && !matches idleRe plan.idleStop then
      "plans.${name}.idleStop is not like 90s, 15min or 1h"
    else
      null;

  # Optional: a fleet from before releases has none, and its tenants name none.
  releasesProblem = releases:
    if !isAttrs releases then
      "releases is not an object"
    else if !isList (releases.known or null) || releases.known == [ ] then
      "releases.known is not a list of releases"
    else if !all (matches releaseRe) releases.known then
      "releases.known has a name that is not like 2026.11"
    else if length (uniqueSorted releases.known) != length releases.known then
      "releases.known lists a release twice"
    else if !elem (releases.default or null) releases.known then
      "releases.default is not one of releases.known"
    else
      null;

  # Inventory values reach unit files and nginx too, so they get the same treatment.
  checkInventory = inventory:
    let
      fail = what: throw "nix/inventory.json: ${what}";
      base = inventory.baseDomain or (fail "baseDomain is missing");
      baseProblem = hostnameProblem base;
      plans = inventory.plans or (fail "plans is missing");
      planProblems = filter (p: p != null) (map (n: planProblem n plans.${n}) (attrNames plans));
      releaseProblem = if inventory ? releases then releasesProblem inventory.releases else null;
    in
    if baseProblem != null then
      fail "baseDomain ${toJSON base} ${baseProblem}"
    else if planProblems != [ ] then
      fail (head planProblems)
    else if releaseProblem != null then
      fail releaseProblem
    else
      inventory;

  atOrUnder = name: parent: name == parent || hasSuffix ".${parent}" name;

  # An SSH target may carry a user (root@web-1...): the name is what follows the last "@",
  # lowered, as gitops_bot.contract.inventory.Inventory.why_ours reads it.
  hostName = address: lower (lastOf (split "@" address));
  lastOf = list: builtins.elemAt list (length list - 1);
  lower = builtins.replaceStrings (letters "ABCDEFGHIJKLMNOPQRSTUVWXYZ") (
    letters "abcdefghijklmnopqrstuvwxyz"
  );
  letters = word: builtins.genList (i: substring i 1 word) (stringLength word);

  # A custom domain the operator owns would route the fleet's own traffic to a tenant:
  # the base domain and its parents, and each host's address with every name under it.
  domainProblem = inventory: d:
    let
      why = hostnameProblem d;
      hosts = inventory.hosts or { };
      ownedBy = filter (n: atOrUnder d (hostName (hosts.${n}.address or ""))) (attrNames hosts);
    in
    if why != null then
      "domain ${toJSON d} ${why}"
    else if atOrUnder d inventory.baseDomain then
      "domain ${toJSON d} is under the base domain ${inventory.baseDomain}"
    else if atOrUnder inventory.baseDomain d then
      "domain ${toJSON d} is a parent of the base domain ${inventory.baseDomain}"
    else if ownedBy != [ ] then
      "domain ${toJSON d} is under host ${head ownedBy}'s address"
    else
      null;

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
      uid = raw.uid or (fail "uid is missing (`gitops-bot pin-uids` pins one per tenant)");
      uidWhy = uidProblem uid;
      domains = raw.domains or [ ];
      # Awaiting DNS proof of ownership: validated and reserved like domains, never served.
      pendingDomains = raw.pendingDomains or [ ];
      domainProblems = filter (p: p != null) (
        map (domainProblem inventory) (
          (if isList domains then domains else [ ])
          ++ (if isList pendingDomains then pendingDomains else [ ])
        )
      );
      host = raw.host or (fail "host is missing");
      plan = raw.plan or (fail "plan is missing");
      state = raw.state or (fail "state is missing");
      # Absent: the legacy app.package, as in files from before releases.
      release = raw.release or null;
      knownReleases = inventory.releases.known or [ ];
    in
    if !isAttrs raw then
      fail "is not a JSON object"
    else if slugWhy != null then
      fail "slug ${toJSON slug} ${slugWhy}"
    else if slug != fileSlug then
      fail "slug ${toJSON slug} does not match the file name"
    else if (raw.schemaVersion or null) != 1 then
      fail "schemaVersion must be 1"
    else if uidWhy != null then
      fail "uid ${toJSON uid} ${uidWhy}"
    else if !isList domains then
      fail "domains must be a list"
    else if !isList pendingDomains then
      fail "pendingDomains must be a list"
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
    else if release != null && !matches releaseRe release then
      fail "release ${toJSON release} is not a release name"
    else if release != null && !elem release knownReleases then
      fail "release ${toJSON release} is not in nix/inventory.json releases.known"
    else
      {
        inherit slug uid host plan state release;
        domains = uniqueSorted domains;
        pendingDomains = uniqueSorted pendingDomains;
      };

  # Every regular <slug>.json file of `dir`, checked, by slug. readDir reports a symlink as
  # "symlink", so a link is never followed, whatever it points to.
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

  readInventory = file: checkInventory (builtins.fromJSON (readFile file));

  isReleaseName = matches releaseRe;
in
{
  inherit
    reservedSlugs
    uidRange
    slugProblem
    uidProblem
    hostnameProblem
    isReleaseName
    checkInventory
    readInventory
    loadTenant
    loadTenants
    hasSuffix
    ;
}
