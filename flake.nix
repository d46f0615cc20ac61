{
  # The state repo as a flake: the tenant module, one NixOS configuration per inventory host,
  # NixOps and colmena entry points, evaluation checks per host, and the VM test of the
  # no-restart promise. No flake.lock is committed yet: the machines this was written on have
  # no network access to GitHub; the first `nix flake lock` on an operator's machine creates it.
  description = "gitops-bot state repo: one NixOS environment per tenants/<slug>.json";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    colmena = {
      url = "github:zhaofengli/colmena";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # Pull deploys (nix/hosts/pull.nix): only hosts with "deploy": "comin" import its module.
    comin = {
      url = "github:nlewo/comin";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      colmena,
      comin,
    }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      inventory = builtins.fromJSON (builtins.readFile ./nix/inventory.json);
      # nix/hosts/default.nix: common.nix, pull.nix, the host's hardware profile (or the
      # placeholder, which fails evaluation) and its name. common.nix imports the module by
      # path. A host that pulls its deploys also gets comin's module; the others do not, so
      # their systems (the options in their manual included) stay as they were.
      pulls = name: (inventory.hosts.${name}.deploy or "push") == "comin";
      hostModules =
        name: import ./nix/hosts name ++ nixpkgs.lib.optional (pulls name) comin.nixosModules.comin;
      # The control host, which runs the bot itself (nix/control/default.nix).
      controlModules = import ./nix/control { package = self.packages.${system}.default; };
      # What the checks evaluate: the host as it would deploy, placeholder allowed.
      evaluated =
        name:
        nixpkgs.lib.nixosSystem {
          modules = hostModules name ++ [ { fleet.allowPlaceholderHardware = true; } ];
        };
    in
    {
      # The tenants (services.saasTenants) and the bot itself (services.gitops-bot).
      # `default` stays the tenant module, as it has been since the first release.
      nixosModules = {
        default = self.nixosModules.tenants;
        tenants = ./nix/module.nix;
        gitops-bot =
          { pkgs, lib, ... }:
          {
            imports = [ ./nix/gitops-bot.nix ];
            services.gitops-bot.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          };
      };

      overlays.default = final: _prev: { gitops-bot = final.callPackage ./nix/package.nix { }; };

      packages.${system}.default = pkgs.callPackage ./nix/package.nix { };

      apps.${system}.default = {
        type = "app";
        program = pkgs.lib.getExe self.packages.${system}.default;
        meta.description = "gitops-bot: intake, writer, checker and deploy";
      };

      nixosConfigurations =
        builtins.mapAttrs (
          name: _:
          # The platform comes from the hardware profile (nixpkgs.hostPlatform).
          nixpkgs.lib.nixosSystem { modules = hostModules name; }
        ) inventory.hosts
        // {
          control = nixpkgs.lib.nixosSystem { modules = controlModules; };
        };

      # NixOps 2 reads `nixpkgs` from here; network.nix documents network.storage.
      nixopsConfigurations.default = {
        inherit nixpkgs;
      }
      // import ./nix/network.nix;

      # The raw hive, as colmena 0.4 reads it; colmena 0.5 and later read colmenaHive.
      colmena = {
        meta = {
          nixpkgs = pkgs;
          description = "gitops-bot tenant fleet";
        };
      }
      // builtins.mapAttrs (name: host: {
        deployment.targetHost = host.address;
        imports = hostModules name;
      }) inventory.hosts
      // {
        # Deployed by hand (`colmena apply --on control`); `gitops-bot deploy` only ever
        # names inventory hosts.
        control = {
          deployment.targetHost = "control.fleet.example.net";
          imports = controlModules;
        };
      };
      colmenaHive = colmena.lib.makeHive self.colmena;

      formatter.${system} = pkgs.nixfmt-tree;

      checks.${system} = {
        tenants-no-restart = import ./nix/tests/tenants.nix { inherit pkgs; };
        package = self.packages.${system}.default;
        gitops-bot-accepts-a-signup = import ./nix/tests/bot.nix {
          inherit pkgs;
          package = self.packages.${system}.default;
        };
        host-control-evaluates = pkgs.writeText "host-control-toplevel" (nixpkgs.lib.nixosSystem {
          modules = controlModules ++ [ { fleet.allowPlaceholderHardware = true; } ];
        }).config.system.build.toplevel.drvPath;
      }
      # One check per host that evaluates its whole system (instantiating, not building, its
      # toplevel), so CI without KVM still catches a host that would not evaluate.
      // nixpkgs.lib.mapAttrs' (name: _: {
        name = "host-${name}-evaluates";
        value = pkgs.writeText "host-${name}-toplevel" (evaluated name).config.system.build.toplevel.drvPath;
      }) inventory.hosts;
    };
}
