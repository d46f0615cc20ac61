-- 3932588: /metrics counters, the operator view's errors, the notification outbox.
CREATE INDEX IF NOT EXISTS events_slug ON events (slug, seq);

CREATE TABLE IF NOT EXISTS counters (
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (name, labels)
);

CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    message TEXT NOT NULL,
    at REAL NOT NULL
);

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
