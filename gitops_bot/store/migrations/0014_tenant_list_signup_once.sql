-- The tenant list's trigger on transitions looked up the tenant's signup (a walk back
-- through its events to the latest create) at every transition, to use it only at the
-- first. Rewritten so the lookup sits in the result columns, which SQLite evaluates only
-- for the row that passes the WHERE: once per tenant. Same rows as before.
DROP TRIGGER IF EXISTS tenant_list_transition;
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
