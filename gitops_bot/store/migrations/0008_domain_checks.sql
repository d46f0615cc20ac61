-- Issue 13: DNS ownership checks of custom domains (store/domainchecks.py).
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
