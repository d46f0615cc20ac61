-- Issue 16: the app release each tenant on the branch names (NULL: the legacy app.package),
-- so /metrics counts tenants per release from this table, never from the tenant files.
ALTER TABLE tenants ADD COLUMN release TEXT;
-- Rows from before this step have no release yet. An empty synced head is no commit, so
-- the writer's next read of the branch re-reads every tenant file (a full sync), which
-- fills the column in; NULL (a new file) would start a recovery instead.
UPDATE meta SET value = '' WHERE key = 'head';
