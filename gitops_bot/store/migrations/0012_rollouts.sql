-- Issue 16: releases rolled out in waves (store/rollouts.py, deploy/rollout.py).
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
