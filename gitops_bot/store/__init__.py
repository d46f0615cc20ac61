"""The queue's SQLite storage. May import contract (and config, policy, logs)."""
