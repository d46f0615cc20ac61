"""Deploying changed hosts. May import github, backends, store and contract."""
