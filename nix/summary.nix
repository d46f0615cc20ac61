# What `gitops-bot plan` and the writer evaluate at a revision: every host's tenants (or only
# `hosts`) with one fingerprint per unit, virtual host and certificate, and the names two
# tenants of a host would share. `repo` is the root of a checkout of the state repo.
# `problemsOnly` leaves the fingerprints out: the writer's check before a commit needs the
# verdict only, and hashing every unit is most of the work.
{ repo, hosts ? null, problemsOnly ? false }:
let
  tenantLib = import ./lib.nix;
  summary = tenantLib.fleetSummary {
    inherit hosts;
    dir = repo + "/tenants";
    inventory = tenantLib.readInventory (repo + "/nix/inventory.json");
  };
in
if problemsOnly then { inherit (summary) naming problems unplaced; } else summary
