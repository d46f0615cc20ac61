# TEST ONLY. Just enough NixOS option declarations for lib.evalModules to evaluate
# ../module.nix without nixpkgs: the options it sets, typed loosely, so a test can read the
# resulting units, users, virtual hosts and certificates. Never import this on a real host.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  loose = mkOption {
    type = types.lazyAttrsOf types.anything;
    default = { };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.anything;
      default = [ ];
    };
    networking.hostName = mkOption {
      type = types.str;
      default = "web-1";
    };
    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };
    systemd.services = loose;
    systemd.sockets = loose;
    users.users = loose;
    users.groups = loose;
    security.acme.certs = loose;
    services.postgresql = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      package = mkOption {
        type = types.str;
        default = "/stub/postgresql";
      };
      settings.port = mkOption {
        type = types.port;
        default = 5432;
      };
    };
    services.nginx = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      enableReload = mkOption {
        type = types.bool;
        default = false;
      };
      recommendedProxySettings = mkOption {
        type = types.bool;
        default = false;
      };
      recommendedTlsSettings = mkOption {
        type = types.bool;
        default = false;
      };
      group = mkOption {
        type = types.str;
        default = "nginx";
      };
      serverNamesHashBucketSize = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
      };
      serverNamesHashMaxSize = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
      };
      virtualHosts = loose;
    };
  };
}
