# PLACEHOLDER hardware profile, shared by every host of the inventory so the configurations
# evaluate. Replace it per host with the output of `nixos-generate-config` (disks, boot
# loader, kernel modules) before the first deploy; the warning below says so at every build.
{ lib, ... }:
{
  warnings = [
    "nix/hosts/placeholder-hardware.nix is a placeholder: replace it with the host's real hardware profile"
  ];
  boot.loader.grub.device = lib.mkDefault "/dev/sda";
  fileSystems."/" = lib.mkDefault {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
}
