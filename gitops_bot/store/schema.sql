-- The queue's current schema, the one a fresh file gets (migrations.py stamps it with the
-- latest version). Every change to it is also a new step in migrations/, which is what an
-- existing file goes through: tests/store/test_migrations.py checks that both agree.

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
-- The operator view looks up a gone tenant's plan and host in its signup.
CREATE INDEX IF NOT EXISTS events_slug ON events (slug, seq);

-- Every tenant the bot knows: on the branch (in_repo = 1) or reserved by a queued event.
CREATE TABLE IF NOT EXISTS tenants (
    slug TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    plan TEXT NOT NULL,
    in_repo INTEGER NOT NULL DEFAULT 0
);
-- Seats taken on each host, kept by triggers on tenants: intake places every signup
-- under the write lock, and counting the whole fleet there each time made intake slow
-- down as the fleet grew. Recounted at every start (migrations.py), so they cannot drift.
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

-- Counters that several processes add to (web workers, the writer): refused deliveries by
-- reason, GitHub requests, rate-limit waits. /metrics reads their sums. `labels` is a
-- canonical JSON object.
CREATE TABLE IF NOT EXISTS counters (
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (name, labels)
);

-- The last few errors of the writer and the notifier, for the operator view; pruned.
-- A writer retrying the same failure bumps `repeats` instead of adding rows.
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    message TEXT NOT NULL,
    at REAL NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 1
);

-- Notifications to send, one per transition, written in the transition's own transaction
-- while meta 'notify' is '1'. The body is fixed then, so every retry sends the same bytes.
CREATE TABLE IF NOT EXISTS outbox (
    transition_id INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    given_up_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (slug, transition_id)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;

-- GitHub webhook deliveries already handled, by X-GitHub-Delivery, so a redelivery is a no-op.
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_age ON deliveries (received_at);

-- The latest reason a reviewer gave on a tenant's pull request (changes requested, a
-- comment), recorded as the rejection's reason if the pull request is closed unmerged.
CREATE TABLE IF NOT EXISTS review_notes (
    slug TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);

-- Failed admin logins of the last few minutes, shared by every worker (auth.py).
CREATE TABLE IF NOT EXISTS login_failures (
    at REAL NOT NULL
);

-- Admin sessions logged out of, kept until they would have expired anyway (web/auth.py).
-- A signed cookie cannot be taken back, so every worker checks this list instead.
CREATE TABLE IF NOT EXISTS ended_sessions (
    id TEXT PRIMARY KEY,
    until REAL NOT NULL
);

-- Deploy reports name a commit; these find the tenants that reached the branch in it.
CREATE INDEX IF NOT EXISTS transitions_commit ON transitions (commit_sha) WHERE commit_sha IS NOT NULL;

-- Custom domains waiting for their owner's DNS record (store/domainchecks.py), and how
-- each check went: the verifier in `gitops-bot worker` works through the due ones.
CREATE TABLE IF NOT EXISTS domain_checks (
    domain TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    cname_target TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    requested_at REAL NOT NULL,
    next_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS domain_checks_due ON domain_checks (next_at) WHERE state = 'pending';

-- A rollout moves tenants to one release, a wave at a time; every step of it is a row
-- here, so the worker picks up where it was after a restart or a kill -9.
CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    release TEXT NOT NULL,
    -- running, paused, halted, aborting; then completed or aborted
    state TEXT NOT NULL,
    waves TEXT NOT NULL,
    soak REAL NOT NULL,
    filters TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    halted_slug TEXT,
    halt_reason TEXT
);
-- At most one rollout that is not finished: a second start is refused by SQLite itself.
CREATE UNIQUE INDEX IF NOT EXISTS rollouts_one_open ON rollouts ((1))
    WHERE state IN ('running', 'paused', 'halted', 'aborting');
CREATE TABLE IF NOT EXISTS rollout_waves (
    rollout_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    -- pending, queued (its events are in the queue), soaking, done, reverted
    state TEXT NOT NULL DEFAULT 'pending',
    queued_at REAL,
    soak_until REAL,
    done_at REAL,
    PRIMARY KEY (rollout_id, number)
);
CREATE TABLE IF NOT EXISTS rollout_tenants (
    rollout_id INTEGER NOT NULL,
    slug TEXT NOT NULL,
    wave INTEGER NOT NULL,
    host TEXT NOT NULL,
    plan TEXT NOT NULL,
    previous_release TEXT,
    -- planned, queued, live (on the rollout's release), failed, reverted
    state TEXT NOT NULL DEFAULT 'planned',
    event_id TEXT,
    revert_event_id TEXT,
    reason TEXT,
    live_at REAL,
    -- a failure before this moment no longer counts (the operator resumed after it)
    failures_after REAL,
    PRIMARY KEY (rollout_id, slug)
);
CREATE INDEX IF NOT EXISTS rollout_tenants_wave ON rollout_tenants (rollout_id, wave);
