"""The writer and its review lane. May import nix, backends, store and contract."""
