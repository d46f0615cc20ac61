# TEST ONLY. A stand-in for the options of comin's NixOS module (nlewo/comin's
# nix/module-options.nix), declared here from its documentation so that ../hosts/pull.nix
# evaluates without fetching comin: the options pull.nix sets, with their types and defaults,
# and nothing comin does with them. A misspelt option in pull.nix fails here as it would there.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  option = type: default: mkOption { inherit type default; };
in
{
  options.services.comin = {
    enable = option types.bool false;
    hostname = option types.str config.networking.hostName;
    exporter = {
      listen_address = option types.str "";
      port = option types.int 4243;
      openFirewall = option types.bool false;
    };
    remotes = option (types.listOf (
      types.submodule {
        options = {
          name = mkOption { type = types.str; };
          url = mkOption { type = types.str; };
          auth.access_token_path = option types.str "";
          branches.main.name = option types.str "main";
          poller.period = option types.int 60;
        };
      }
    )) [ ];
  };
}
