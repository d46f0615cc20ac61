-- 958cfcf: GitHub webhook deliveries seen, reviewers' reasons, commits deploy reports name.
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_age ON deliveries (received_at);

CREATE TABLE IF NOT EXISTS review_notes (
    slug TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);

CREATE INDEX IF NOT EXISTS transitions_commit ON transitions (commit_sha) WHERE commit_sha IS NOT NULL;
