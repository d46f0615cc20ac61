{
  # The state repo as a flake: the tenant module, one NixOS configuration per inventory host,
  # NixOps and colmena entry points, and the VM test of the no-restart promise.
  # No flake.lock is committed yet: the machines this was written on have no network access
  # to GitHub; the first `nix flake lock` on an operator's machine creates it.
  description = "gitops-bot state repo: one NixOS environment per tenants/<slug>.json";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      inventory = builtins.fromJSON (builtins.readFile ./nix/inventory.json);
      # common.nix imports the module by path, so the module system loads it once.
      hostModules = name: [
        ./nix/hosts/common.nix
        ./nix/hosts/placeholder-hardware.nix
        { networking.hostName = name; }
      ];
    in
    {
      nixosModules.default = ./nix/module.nix;

      nixosConfigurations = builtins.mapAttrs (
        name: _:
        # The platform comes from the hardware profile (nixpkgs.hostPlatform).
        nixpkgs.lib.nixosSystem { modules = hostModules name; }
      ) inventory.hosts;

      # NixOps 2 reads `nixpkgs` from here; network.nix documents network.storage.
      nixopsConfigurations.default = {
        inherit nixpkgs;
      }
      // import ./nix/network.nix;

      colmena = {
        meta = {
          nixpkgs = pkgs;
          description = "gitops-bot tenant fleet";
        };
      }
      // builtins.mapAttrs (name: host: {
        deployment.targetHost = host.address;
        imports = hostModules name;
      }) inventory.hosts;

      checks.${system}.tenants-no-restart = import ./nix/tests/tenants.nix { inherit pkgs; };
    };
}
