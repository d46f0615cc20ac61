-- Version 1: the first schema.sql (b50abfc). Applied to a database that has no tables yet
-- only by the migration tests: a fresh file gets schema.sql and is stamped current.

CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    slug TEXT,
    -- create: the whole tenant file; update: a JSON object of fields to set;
    -- delete and merge: nothing. Fixed at intake, so a retry writes the same bytes.
    op TEXT NOT NULL DEFAULT 'create',
    content TEXT,
    delivery TEXT NOT NULL DEFAULT 'direct',
    reason_given TEXT,
    body_sha256 TEXT NOT NULL,
    answer_status INTEGER NOT NULL,
    answer_body TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    -- Write-ahead: the commit the writer is about to push, so a restart can tell
    -- whether the push happened before a crash.
    attempt_sha TEXT,
    commit_sha TEXT,
    received_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE status = 'pending';

-- Every tenant the bot knows: on the branch (in_repo = 1) or reserved by a queued event.
CREATE TABLE IF NOT EXISTS tenants (
    slug TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    plan TEXT NOT NULL,
    in_repo INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS domains (
    domain TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    in_repo INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL,
    status TEXT NOT NULL,
    at REAL NOT NULL,
    event_id TEXT,
    commit_sha TEXT,
    url TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS transitions_slug ON transitions (slug, id);

CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
