-- Issue 13: admin sessions logged out of, kept until they would have expired anyway
-- (web/auth.py). A signed cookie cannot be taken back, so every worker checks this list.
CREATE TABLE IF NOT EXISTS ended_sessions (
    id TEXT PRIMARY KEY,
    until REAL NOT NULL
);
