# TEST ONLY. Evaluates ../hosts/pull.nix with nixpkgs' lib.evalModules against
# ./stub-options.nix, with or without ./stub-comin.nix (comin's module, or its absence), and
# returns services.comin and the failed assertions. tests/nix/test_pull.py calls it.
{
  nixpkgsLib,
  inventoryFile,
  hostName,
  withComin ? true,
  config ? { },
}:
let
  lib = import nixpkgsLib;
  evaluated = lib.evalModules {
    modules = [
      ./stub-options.nix
      ../hosts/pull.nix
      {
        networking.hostName = hostName;
        fleet.pull.inventoryFile = inventoryFile;
      }
      config
    ]
    ++ lib.optional withComin ./stub-comin.nix;
  };
  cfg = evaluated.config;
in
{
  comin = if withComin then cfg.services.comin else null;
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
}
