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
-- `release` is the app release its file names on the branch (NULL: none, or not there yet).
CREATE TABLE IF NOT EXISTS tenants (
    slug TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    plan TEXT NOT NULL,
    in_repo INTEGER NOT NULL DEFAULT 0,
    release TEXT
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

-- Running totals for /metrics (issue 17), kept by triggers in the transaction of the row
-- they count, so a scrape reads a few rows of `counters` however long the history. Rows
-- are never deleted from events, transitions or outbox; if they ever are, the counters
-- stay (Prometheus counters only go up). Labels are the canonical JSON of counters.py.
CREATE TABLE IF NOT EXISTS tenant_status (
    slug TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    transition_id INTEGER NOT NULL
);
-- The live probe asks for the tenants in a few statuses twice a round.
CREATE INDEX IF NOT EXISTS tenant_status_status ON tenant_status (status);
-- The oldest waiting event's age: the first entry of this index, not a pass over the queue.
CREATE INDEX IF NOT EXISTS events_pending_age ON events (received_at) WHERE status = 'pending';
-- A tenant's domains and domain checks, read when it is settled and when its status is asked.
CREATE INDEX IF NOT EXISTS domains_slug ON domains (slug);
CREATE INDEX IF NOT EXISTS domain_checks_slug ON domain_checks (slug);
-- A review's tenant, by its pull request's page, for GitHub's review and comment events.
CREATE INDEX IF NOT EXISTS transitions_review ON transitions (url) WHERE status = 'pr_open';

CREATE TRIGGER IF NOT EXISTS event_counted AFTER INSERT ON events BEGIN
    INSERT INTO counters (name, labels, value)
        SELECT 'events_accepted', json_object('type', NEW.type), 1 WHERE NEW.status != 'rejected'
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO counters (name, labels, value)
        SELECT 'queue_depth', '{}', 1 WHERE NEW.status = 'pending'
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
END;
CREATE TRIGGER IF NOT EXISTS event_moved AFTER UPDATE OF status ON events
WHEN NEW.status IS NOT OLD.status BEGIN
    INSERT INTO counters (name, labels, value)
        SELECT 'events_accepted', json_object('type', NEW.type),
            (NEW.status != 'rejected') - (OLD.status != 'rejected')
        WHERE (NEW.status != 'rejected') != (OLD.status != 'rejected')
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO counters (name, labels, value)
        SELECT 'queue_depth', '{}', (NEW.status = 'pending') - (OLD.status = 'pending')
        WHERE (NEW.status = 'pending') != (OLD.status = 'pending')
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
END;
-- The bounds are operator/metrics.py's LATENCY_BUCKETS; each event adds to the one bucket
-- it falls in, and the scrape adds them up into Prometheus's cumulative counts.
CREATE TRIGGER IF NOT EXISTS event_settled AFTER UPDATE OF status, finished_at ON events
WHEN NEW.status = 'done' AND NEW.finished_at IS NOT NULL
    AND NOT (OLD.status = 'done' AND OLD.finished_at IS NOT NULL) BEGIN
    INSERT INTO counters (name, labels, value)
        SELECT 'accept_to_commit_bucket', json_object('le', CASE
            WHEN delay <= 0.1 THEN '0.1' WHEN delay <= 0.25 THEN '0.25'
            WHEN delay <= 0.5 THEN '0.5' WHEN delay <= 1.0 THEN '1.0'
            WHEN delay <= 2.5 THEN '2.5' WHEN delay <= 5.0 THEN '5.0'
            WHEN delay <= 10.0 THEN '10.0' WHEN delay <= 30.0 THEN '30.0'
            WHEN delay <= 60.0 THEN '60.0' WHEN delay <= 300.0 THEN '300.0'
            WHEN delay <= 1800.0 THEN '1800.0' ELSE '+Inf' END), 1
        FROM (SELECT NEW.finished_at - NEW.received_at AS delay) WHERE true
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO counters (name, labels, value)
        VALUES ('accept_to_commit_sum', '{}', NEW.finished_at - NEW.received_at)
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
END;

-- Statements run in order: the deploy outcome and the status gauge read the tenant's
-- status before this transition, then tenant_status moves on to it.
CREATE TRIGGER IF NOT EXISTS transition_counted AFTER INSERT ON transitions BEGIN
    INSERT INTO counters (name, labels, value)
        VALUES ('transitions', json_object('status', NEW.status), 1)
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO counters (name, labels, value)
        SELECT 'deploys', json_object('outcome', CASE NEW.status
            WHEN 'deploying' THEN 'started' WHEN 'failed' THEN 'failed' ELSE NEW.status END), 1
        WHERE NEW.status IN ('deploying', 'deployed', 'live') OR (NEW.status = 'failed'
            AND (SELECT status FROM tenant_status WHERE slug = NEW.slug) = 'deploying')
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO counters (name, labels, value)
        SELECT 'tenants_status', json_object('status', status), -1
        FROM tenant_status WHERE slug = NEW.slug
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO counters (name, labels, value)
        VALUES ('tenants_status', json_object('status', NEW.status), 1)
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO tenant_status (slug, status, transition_id) VALUES (NEW.slug, NEW.status, NEW.id)
        ON CONFLICT (slug) DO UPDATE SET status = excluded.status,
            transition_id = excluded.transition_id;
END;

CREATE TRIGGER IF NOT EXISTS notification_counted AFTER INSERT ON outbox BEGIN
    INSERT INTO counters (name, labels, value)
        SELECT 'notifications', json_object('state', column1), column2 FROM (VALUES
            ('pending', NEW.delivered_at IS NULL AND NEW.given_up_at IS NULL),
            ('delivered', NEW.delivered_at IS NOT NULL),
            ('failed', NEW.given_up_at IS NOT NULL)) WHERE column2 != 0
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
END;
CREATE TRIGGER IF NOT EXISTS notification_moved AFTER UPDATE OF delivered_at, given_up_at
ON outbox BEGIN
    INSERT INTO counters (name, labels, value)
        SELECT 'notifications', json_object('state', column1), column2 FROM (VALUES
            ('pending', (NEW.delivered_at IS NULL AND NEW.given_up_at IS NULL)
                - (OLD.delivered_at IS NULL AND OLD.given_up_at IS NULL)),
            ('delivered', (NEW.delivered_at IS NOT NULL) - (OLD.delivered_at IS NOT NULL)),
            ('failed', (NEW.given_up_at IS NOT NULL) - (OLD.given_up_at IS NOT NULL)))
        WHERE column2 != 0
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
END;
