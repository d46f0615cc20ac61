# The modules of one inventory host: what every host runs, its name, its hardware profile
# (nix/hosts/<host>/hardware.nix, or the placeholder, which refuses to deploy), and comin when
# the inventory says the host pulls (pull.nix). flake.nix and network.nix both build their
# machines from this list.
name:
let
  hardware = ./. + "/${name}/hardware.nix";
in
[
  ./common.nix
  ./pull.nix
  (if builtins.pathExists hardware then hardware else ./placeholder-hardware.nix)
  { networking.hostName = name; }
]
