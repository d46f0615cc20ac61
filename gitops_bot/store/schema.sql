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
-- The latest tenants to go live, for /admin's signup-to-live chart: a LIMIT on this index
-- reads as many rows as the chart shows, however long the history.
CREATE INDEX IF NOT EXISTS transitions_live ON transitions (id) WHERE status = 'live';

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

-- One row per tenant the operator view lists (on the branch, queued, failed or deleted), with
-- what its filters and sorts need, kept by triggers in the same transaction as the change it
-- reflects. Working it out from transitions at every page view scanned the whole history.
CREATE TABLE IF NOT EXISTS tenant_list (
    slug TEXT PRIMARY KEY,
    plan TEXT,
    host TEXT,
    -- The latest transition's status; 'on branch' or 'queued' while it has none.
    state TEXT NOT NULL,
    recorded INTEGER NOT NULL DEFAULT 0,
    since REAL,
    changed_at REAL,
    commit_sha TEXT,
    review_url TEXT,
    deploy_url TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tenant_list_state ON tenant_list (state, slug);
CREATE INDEX IF NOT EXISTS tenant_list_plan ON tenant_list (plan, slug);
CREATE INDEX IF NOT EXISTS tenant_list_host ON tenant_list (host, slug);
CREATE INDEX IF NOT EXISTS tenant_list_since ON tenant_list (since, slug);
CREATE INDEX IF NOT EXISTS tenant_list_changed ON tenant_list (changed_at, slug);
-- What an operator looks for first: the tenants in one state, latest change first.
CREATE INDEX IF NOT EXISTS tenant_list_state_changed ON tenant_list (state, changed_at, slug);
-- A tenant first seen in a transition (one rejected at intake, say) takes its plan and host
-- from its reservation, else from its latest signup.
CREATE TRIGGER IF NOT EXISTS tenant_list_transition AFTER INSERT ON transitions BEGIN
    -- The signup is looked up in the result columns, which SQLite evaluates only for a row
    -- that passed the WHERE: once per tenant, not at every transition (a walk back through
    -- the tenant's events to its latest create).
    INSERT INTO tenant_list (slug, plan, host, state)
        SELECT NEW.slug,
            coalesce(t.plan, json_extract((SELECT CASE WHEN json_valid(content) THEN content
                END FROM events WHERE slug = NEW.slug AND op = 'create'
                ORDER BY seq DESC LIMIT 1), '$.plan')),
            coalesce(t.host, json_extract((SELECT CASE WHEN json_valid(content) THEN content
                END FROM events WHERE slug = NEW.slug AND op = 'create'
                ORDER BY seq DESC LIMIT 1), '$.host')),
            NEW.status
        FROM (SELECT NEW.slug AS slug) AS n
        LEFT JOIN tenants t ON t.slug = n.slug
        WHERE NOT EXISTS (SELECT 1 FROM tenant_list WHERE slug = NEW.slug);
    UPDATE tenant_list SET
        state = NEW.status,
        recorded = 1,
        changed_at = NEW.at,
        commit_sha = coalesce(NEW.commit_sha, commit_sha),
        review_url = CASE WHEN NEW.status = 'pr_open' AND NEW.url IS NOT NULL
            THEN NEW.url ELSE review_url END,
        deploy_url = CASE WHEN NEW.status IN ('deploying', 'deployed', 'live')
            AND NEW.url IS NOT NULL THEN NEW.url ELSE deploy_url END
    WHERE slug = NEW.slug;
    -- Apart, so that only a tenant's first transition rewrites the since index.
    UPDATE tenant_list SET since = NEW.at WHERE slug = NEW.slug AND since IS NULL;
END;
CREATE TRIGGER IF NOT EXISTS tenant_list_reserved AFTER INSERT ON tenants BEGIN
    INSERT INTO tenant_list (slug, plan, host, state)
        VALUES (NEW.slug, NEW.plan, NEW.host,
                CASE WHEN NEW.in_repo = 0 THEN 'queued' ELSE 'on branch' END)
        ON CONFLICT (slug) DO UPDATE SET plan = excluded.plan, host = excluded.host,
            state = CASE WHEN recorded THEN state ELSE excluded.state END;
END;
-- Every read of the branch marks all its tenants (in_repo 1 to 2 and back): only a real
-- change of plan, host or being on the branch is worth a write here.
CREATE TRIGGER IF NOT EXISTS tenant_list_changed AFTER UPDATE OF host, plan, in_repo ON tenants
WHEN NEW.host IS NOT OLD.host OR NEW.plan IS NOT OLD.plan
    OR (NEW.in_repo = 0) IS NOT (OLD.in_repo = 0) BEGIN
    UPDATE tenant_list SET plan = NEW.plan, host = NEW.host,
        state = CASE WHEN recorded THEN state WHEN NEW.in_repo = 0 THEN 'queued'
            ELSE 'on branch' END
    WHERE slug = NEW.slug;
END;
-- A tenant with a history stays listed (failed, deleted) with the plan and host it last had.
CREATE TRIGGER IF NOT EXISTS tenant_list_freed AFTER DELETE ON tenants BEGIN
    DELETE FROM tenant_list WHERE slug = OLD.slug AND NOT recorded;
END;
-- How many listed tenants have each state, plan and host, kept by triggers on tenant_list
-- (and recounted at every start, like host_seats), so the page's count of a single filter,
-- or of everyone, is one row rather than a count of 100,000. A missing plan or host is ''.
CREATE TABLE IF NOT EXISTS tenant_list_counts (
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    tenants INTEGER NOT NULL,
    PRIMARY KEY (field, value)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS tenant_list_counted AFTER INSERT ON tenant_list BEGIN
    INSERT INTO tenant_list_counts (field, value, tenants)
        VALUES ('state', NEW.state, 1), ('plan', coalesce(NEW.plan, ''), 1),
            ('host', coalesce(NEW.host, ''), 1)
        ON CONFLICT (field, value) DO UPDATE SET tenants = tenants + 1;
END;
CREATE TRIGGER IF NOT EXISTS tenant_list_uncounted AFTER DELETE ON tenant_list BEGIN
    UPDATE tenant_list_counts SET tenants = tenants - 1
        WHERE (field = 'state' AND value = OLD.state)
            OR (field = 'plan' AND value = coalesce(OLD.plan, ''))
            OR (field = 'host' AND value = coalesce(OLD.host, ''));
END;
-- A transition changes the state alone: one row down, one row up.
CREATE TRIGGER IF NOT EXISTS tenant_list_recounted AFTER UPDATE OF state ON tenant_list
WHEN NEW.state IS NOT OLD.state BEGIN
    UPDATE tenant_list_counts SET tenants = tenants - 1
        WHERE field = 'state' AND value = OLD.state;
    INSERT INTO tenant_list_counts (field, value, tenants) VALUES ('state', NEW.state, 1)
        ON CONFLICT (field, value) DO UPDATE SET tenants = tenants + 1;
END;
CREATE TRIGGER IF NOT EXISTS tenant_list_moved AFTER UPDATE OF plan, host ON tenant_list
WHEN NEW.plan IS NOT OLD.plan OR NEW.host IS NOT OLD.host BEGIN
    UPDATE tenant_list_counts SET tenants = tenants - 1
        WHERE (field = 'plan' AND value = coalesce(OLD.plan, ''))
            OR (field = 'host' AND value = coalesce(OLD.host, ''));
    INSERT INTO tenant_list_counts (field, value, tenants)
        VALUES ('plan', coalesce(NEW.plan, ''), 1), ('host', coalesce(NEW.host, ''), 1)
        ON CONFLICT (field, value) DO UPDATE SET tenants = tenants + 1;
END;
-- The operator view's last errors: the newest failed events, without reading every event.
CREATE INDEX IF NOT EXISTS events_failed ON events (finished_at) WHERE status = 'failed';
-- Its custom domains: unfinished checks first, then the newest, 200 at most, without a sort.
CREATE INDEX IF NOT EXISTS domain_checks_shown ON domain_checks (state = 'verified', requested_at DESC);
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

-- Running totals for /metrics (issue 17), kept by triggers in the transaction of the row
-- they count, so a scrape reads a few rows of `counters` however long the history. Rows
-- are never deleted from events, transitions or outbox; if they ever are, the counters
-- stay (Prometheus counters only go up). Labels are the canonical JSON of counters.py.

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

-- A failure right after deploying is a deploy's outcome: the status before it is the
-- tenant's previous transition, on the (slug, id) index.
CREATE TRIGGER IF NOT EXISTS transition_counted AFTER INSERT ON transitions BEGIN
    INSERT INTO counters (name, labels, value)
        VALUES ('transitions', json_object('status', NEW.status), 1)
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
    INSERT INTO counters (name, labels, value)
        SELECT 'deploys', json_object('outcome', CASE NEW.status
            WHEN 'deploying' THEN 'started' ELSE NEW.status END), 1
        WHERE NEW.status IN ('deploying', 'deployed', 'live') OR (NEW.status = 'failed'
            AND (SELECT status FROM transitions WHERE slug = NEW.slug AND id < NEW.id
                 ORDER BY id DESC LIMIT 1) = 'deploying')
        ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
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
