-- Issue 17: the operator view pages through 100,000 tenants in SQL (operator/tenantlist.py).
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
WITH seen AS (
    SELECT slug, max(id) AS last_id, min(at) AS since FROM transitions GROUP BY slug
),
slugs AS (SELECT slug FROM tenants UNION SELECT slug FROM seen),
signup AS (
    SELECT s.slug, (SELECT CASE WHEN json_valid(content) THEN content END FROM events e
        WHERE e.slug = s.slug AND e.op = 'create' ORDER BY seq DESC LIMIT 1) AS file
    FROM slugs s
)
-- OR REPLACE: run again on a file whose user_version is older than its tables, this step
-- recomputes the list instead of failing the start.
INSERT OR REPLACE INTO tenant_list (slug, plan, host, state, recorded, since, changed_at, commit_sha,
    review_url, deploy_url)
SELECT s.slug,
    coalesce(t.plan, json_extract(signup.file, '$.plan')),
    coalesce(t.host, json_extract(signup.file, '$.host')),
    coalesce(last.status, CASE WHEN t.in_repo THEN 'on branch' ELSE 'queued' END),
    last.status IS NOT NULL,
    seen.since,
    last.at,
    (SELECT commit_sha FROM transitions c WHERE c.slug = s.slug
     AND c.commit_sha IS NOT NULL ORDER BY id DESC LIMIT 1),
    (SELECT url FROM transitions r WHERE r.slug = s.slug AND r.status = 'pr_open'
     AND r.url IS NOT NULL ORDER BY id DESC LIMIT 1),
    (SELECT url FROM transitions d WHERE d.slug = s.slug
     AND d.status IN ('deploying', 'deployed', 'live') AND d.url IS NOT NULL
     ORDER BY id DESC LIMIT 1)
FROM slugs s
JOIN signup ON signup.slug = s.slug
LEFT JOIN tenants t ON t.slug = s.slug
LEFT JOIN seen ON seen.slug = s.slug
LEFT JOIN transitions last ON last.id = seen.last_id;
-- A tenant first seen in a transition (one rejected at intake, say) takes its plan and host
-- from its reservation, else from its latest signup.
CREATE TRIGGER IF NOT EXISTS tenant_list_transition AFTER INSERT ON transitions BEGIN
    INSERT INTO tenant_list (slug, plan, host, state)
        SELECT NEW.slug,
            coalesce(t.plan, json_extract(signup.file, '$.plan')),
            coalesce(t.host, json_extract(signup.file, '$.host')),
            NEW.status
        FROM (SELECT (SELECT CASE WHEN json_valid(content) THEN content END FROM events
                      WHERE slug = NEW.slug AND op = 'create' ORDER BY seq DESC LIMIT 1) AS file
             ) AS signup
        LEFT JOIN tenants t ON t.slug = NEW.slug
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
