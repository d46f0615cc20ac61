"""GitHub's events and deployments. May import intake, web, store and contract."""
