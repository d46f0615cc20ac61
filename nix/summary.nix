# What `gitops-bot plan` evaluates at each revision: every host's tenants with one fingerprint
# per unit, virtual host and certificate. `repo` is the root of a checkout of the state repo.
{ repo }:
let
  tenantLib = import ./lib.nix;
in
tenantLib.fleetSummary {
  dir = repo + "/tenants";
  inventory = tenantLib.readInventory (repo + "/nix/inventory.json");
}
