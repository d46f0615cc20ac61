# NixOps 2 network for operators without flakes: one machine per host of nix/inventory.json.
#   nixops create -d fleet nix/network.nix && nixops deploy -d fleet
# nixpkgs comes from NIX_PATH here; flake.nix pins it instead and reuses this file.
#
# network.storage: "legacy" keeps NixOps' state in its local SQLite file
# (~/.nixops/deployments.nixops, or $NIXOPS_STATE). The hosts already run NixOS and carry no
# cloud resources, so that state is only a deploy log plus the machine keys: losing it costs
# a `nixops create` again, nothing on the hosts. A team deploying from several machines
# should keep $NIXOPS_STATE on shared storage or use colmena, which keeps no state.
#
# A host with "deploy": "comin" in the inventory pulls its own deploys and needs comin's
# module, which only the flake brings (flake.nix): without it, it fails with an assertion.
let
  inventory = builtins.fromJSON (builtins.readFile ./inventory.json);
  machine = name: host: {
    imports = import ./hosts name;
    deployment.targetHost = host.address;
    # NixOps would otherwise generate an SSH key per machine, authorize it for root and then
    # connect with StrictHostKeyChecking=no. The deploy workflow's state is new on every run,
    # so that key would be lost each time: use the operator's deploy key and known_hosts.
    deployment.provisionSSHKey = false;
  };
in
{
  network = {
    description = "gitops-bot tenant fleet";
    storage.legacy = { };
  };
}
// builtins.mapAttrs machine inventory.hosts
