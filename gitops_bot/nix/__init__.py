"""Nix evaluation and deploy plans. May import backends, store and contract."""
