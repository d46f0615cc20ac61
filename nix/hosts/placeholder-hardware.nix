# PLACEHOLDER hardware profile, for the hosts of the inventory that have no
# nix/hosts/<host>/hardware.nix yet (the output of `nixos-generate-config` on that machine:
# disks, boot loader, kernel modules). A deploy with it would boot nothing, so it fails
# evaluation with an assertion; the flake's evaluation checks set
# fleet.allowPlaceholderHardware to look at everything else.
{ config, lib, ... }:
{
  options.fleet.allowPlaceholderHardware = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Evaluate a host that still has the placeholder hardware profile (checks only).";
  };

  config = {
    assertions = [
      {
        assertion = config.fleet.allowPlaceholderHardware;
        message = ''
          ${config.networking.hostName} still uses nix/hosts/placeholder-hardware.nix: run
          `nixos-generate-config --show-hardware-config` on the machine and commit the result
          as nix/hosts/${config.networking.hostName}/hardware.nix.
        '';
      }
    ];
    boot.loader.grub.device = lib.mkDefault "/dev/sda";
    fileSystems."/" = lib.mkDefault {
      device = "/dev/disk/by-label/nixos";
      fsType = "ext4";
    };
    nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
  };
}
