-- Issue 15: the operator view's signup-to-live chart reads the most recent live tenants.
-- The latest tenants to go live, for /admin's signup-to-live chart: a LIMIT on this index
-- reads as many rows as the chart shows, however long the history.
CREATE INDEX IF NOT EXISTS transitions_live ON transitions (id) WHERE status = 'live';
