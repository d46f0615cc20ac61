# The modules of one inventory host: what every host runs, its name, and its hardware profile
# (nix/hosts/<host>/hardware.nix, or the placeholder, which refuses to deploy). flake.nix and
# network.nix both build their machines from this list.
name:
let
  hardware = ./. + "/${name}/hardware.nix";
in
[
  ./common.nix
  (if builtins.pathExists hardware then hardware else ./placeholder-hardware.nix)
  { networking.hostName = name; }
]
