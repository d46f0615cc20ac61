# What `gitops-bot plan` and the writer evaluate at a revision: every host's tenants (or only
# `hosts`) with one fingerprint per unit, virtual host and certificate, and the names two
# tenants of a host would share. `repo` is the root of a checkout of the state repo.
{ repo, hosts ? null }:
let
  tenantLib = import ./lib.nix;
in
tenantLib.fleetSummary {
  inherit hosts;
  dir = repo + "/tenants";
  inventory = tenantLib.readInventory (repo + "/nix/inventory.json");
}
