"""Flask plumbing every HTTP surface shares. May import store and contract."""
