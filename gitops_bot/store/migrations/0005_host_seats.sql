-- 2e2ea60: seats per host kept by triggers; migrations.py recounts them at every start.
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
