-- fd1c30f: failed admin logins, counted across workers.
CREATE TABLE IF NOT EXISTS login_failures (
    at REAL NOT NULL
);
