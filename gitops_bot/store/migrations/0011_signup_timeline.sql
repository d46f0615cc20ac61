-- Issue 15: signup-to-live. The operator view's chart reads the most recent live tenants,
-- and /metrics' histograms of each stage are running totals (store/stagetimes.py).
-- The latest tenants to go live, for /admin's signup-to-live chart: a LIMIT on this index
-- reads as many rows as the chart shows, however long the history.
CREATE INDEX IF NOT EXISTS transitions_live ON transitions (id) WHERE status = 'live';

-- The histograms of the history so far, as store/stagetimes.py would have added them one
-- transition at a time: contract/timeline.py's rules in SQL (each signup of a slug is an
-- epoch, and a row counts when it passes the furthest point of the path reached before it;
-- times clamped to never go back). tests/store/test_stagetimes.py checks both agree.
WITH ranked AS (
    SELECT id, slug, status, at,
        CASE status WHEN 'accepted' THEN 0 WHEN 'pr_open' THEN 1 WHEN 'committed' THEN 2
            WHEN 'merged' THEN 2 WHEN 'evaluated' THEN 3 WHEN 'deploying' THEN 4
            WHEN 'deployed' THEN 5 WHEN 'live' THEN 6 END AS rank,
        sum(status = 'accepted') OVER (PARTITION BY slug ORDER BY id) AS epoch
    FROM transitions
),
passed AS (
    SELECT id, slug, status, at, epoch, rank > coalesce(max(rank) OVER (
        PARTITION BY slug, epoch ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ), -1) AS advancing
    FROM ranked
),
clamped AS (
    SELECT slug, epoch, status, max(at) OVER (PARTITION BY slug, epoch ORDER BY id) AS at
    FROM passed WHERE advancing
),
points AS (
    SELECT
        max(CASE WHEN status = 'accepted' THEN at END) AS accepted,
        max(CASE WHEN status IN ('committed', 'merged') THEN at END) AS committed,
        max(CASE WHEN status = 'deploying' THEN at END) AS deploying,
        max(CASE WHEN status = 'deployed' THEN at END) AS deployed,
        max(CASE WHEN status = 'live' THEN at END) AS live
    FROM clamped GROUP BY slug, epoch
),
measured AS (
    SELECT * FROM (
        SELECT 'stage_seconds' AS name, 'committed' AS stage, committed - accepted AS seconds
            FROM points
        UNION ALL SELECT 'stage_seconds', 'deploying', deploying - committed FROM points
        UNION ALL SELECT 'stage_seconds', 'deployed', deployed - deploying FROM points
        UNION ALL SELECT 'stage_seconds', 'live', live - deployed FROM points
        UNION ALL SELECT 'signup_to_live_seconds', NULL, live - accepted FROM points
    ) WHERE seconds IS NOT NULL
),
bucketed AS (
    SELECT name, stage, seconds, CASE
        WHEN seconds <= 5 THEN '5.0' WHEN seconds <= 15 THEN '15.0'
        WHEN seconds <= 30 THEN '30.0' WHEN seconds <= 60 THEN '60.0'
        WHEN seconds <= 120 THEN '120.0' WHEN seconds <= 300 THEN '300.0'
        WHEN seconds <= 600 THEN '600.0' WHEN seconds <= 1800 THEN '1800.0'
        WHEN seconds <= 3600 THEN '3600.0' ELSE '+Inf' END AS le
    FROM measured
)
INSERT INTO counters (name, labels, value)
SELECT * FROM (
    SELECT name || '_bucket',
        CASE WHEN stage IS NULL THEN json_object('le', le)
            ELSE json_object('le', le, 'stage', stage) END,
        count(*)
    FROM bucketed GROUP BY 1, 2
    UNION ALL
    SELECT name || '_sum',
        CASE WHEN stage IS NULL THEN '{}' ELSE json_object('stage', stage) END,
        sum(seconds)
    FROM measured GROUP BY 1, 2
) WHERE true
ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
