-- Issue 17: /metrics reads running totals instead of scanning events, transitions and
-- the outbox at every scrape. The indexes and triggers are schema.sql's; the
-- back-fill at the end makes an upgraded file report the numbers it reported before.
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

-- Back-fill: the very queries /metrics ran before this step, summed once. Emptied first, so
-- the step may run again on a file that has it (a version set back by hand).
DELETE FROM counters WHERE name IN ('events_accepted', 'queue_depth', 'accept_to_commit_bucket',
    'accept_to_commit_sum', 'transitions', 'deploys', 'notifications');
INSERT INTO counters (name, labels, value)
    SELECT 'events_accepted', json_object('type', type), count(*) FROM events
    WHERE status != 'rejected' GROUP BY type;
INSERT INTO counters (name, labels, value)
    SELECT 'queue_depth', '{}', count(*) FROM events WHERE status = 'pending';
INSERT INTO counters (name, labels, value)
    SELECT 'accept_to_commit_bucket', json_object('le', le), count(*) FROM
        (SELECT CASE
            WHEN delay <= 0.1 THEN '0.1' WHEN delay <= 0.25 THEN '0.25'
            WHEN delay <= 0.5 THEN '0.5' WHEN delay <= 1.0 THEN '1.0'
            WHEN delay <= 2.5 THEN '2.5' WHEN delay <= 5.0 THEN '5.0'
            WHEN delay <= 10.0 THEN '10.0' WHEN delay <= 30.0 THEN '30.0'
            WHEN delay <= 60.0 THEN '60.0' WHEN delay <= 300.0 THEN '300.0'
            WHEN delay <= 1800.0 THEN '1800.0' ELSE '+Inf' END AS le
        FROM (SELECT finished_at - received_at AS delay FROM events
            WHERE status = 'done' AND finished_at IS NOT NULL))
    GROUP BY le;
INSERT INTO counters (name, labels, value)
    SELECT 'accept_to_commit_sum', '{}', sum(finished_at - received_at) FROM events
    WHERE status = 'done' AND finished_at IS NOT NULL HAVING count(*) > 0;
INSERT INTO counters (name, labels, value)
    SELECT 'transitions', json_object('status', status), count(*) FROM transitions
    GROUP BY status;
INSERT INTO counters (name, labels, value)
    SELECT 'deploys', json_object('outcome', outcome), count(*) FROM
        (SELECT CASE status WHEN 'deploying' THEN 'started' ELSE status END AS outcome
        FROM (SELECT status, lag(status) OVER (PARTITION BY slug ORDER BY id) AS before
            FROM transitions)
        WHERE status IN ('deploying', 'deployed', 'live')
            OR (status = 'failed' AND before = 'deploying'))
    GROUP BY outcome;
INSERT INTO counters (name, labels, value)
    SELECT 'notifications', json_object('state', state), n FROM (
        SELECT 'pending' AS state, sum(delivered_at IS NULL AND given_up_at IS NULL) AS n FROM outbox
        UNION ALL SELECT 'delivered', sum(delivered_at IS NOT NULL) FROM outbox
        UNION ALL SELECT 'failed', sum(given_up_at IS NOT NULL) FROM outbox)
    WHERE n > 0;
