-- The queue's schema. Every statement is idempotent: each process runs it at start,
-- in one transaction, so that no write lands between creating a trigger and the recount.
BEGIN IMMEDIATE;

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
-- Seats taken on each host, kept by triggers on tenants: intake places every signup
-- under the write lock, and counting the whole fleet there each time made intake slow
-- down as the fleet grew. Recounted at every start, so the figures cannot drift.
CREATE TABLE IF NOT EXISTS host_seats (
    host TEXT PRIMARY KEY,
    taken INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS seat_taken AFTER INSERT ON tenants BEGIN
    INSERT INTO host_seats (host, taken) VALUES (NEW.host, 1)
        ON CONFLICT (host) DO UPDATE SET taken = taken + 1;
END;
CREATE TRIGGER IF NOT EXISTS seat_freed AFTER DELETE ON tenants BEGIN
    UPDATE host_seats SET taken = taken - 1 WHERE host = OLD.host;
END;
CREATE TRIGGER IF NOT EXISTS seat_moved AFTER UPDATE OF host ON tenants
WHEN NEW.host IS NOT OLD.host BEGIN
    UPDATE host_seats SET taken = taken - 1 WHERE host = OLD.host;
    INSERT INTO host_seats (host, taken) VALUES (NEW.host, 1)
        ON CONFLICT (host) DO UPDATE SET taken = taken + 1;
END;
DELETE FROM host_seats;
INSERT INTO host_seats (host, taken) SELECT host, count(*) FROM tenants GROUP BY host;

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

COMMIT;
