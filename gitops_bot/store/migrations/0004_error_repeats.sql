-- 27f5138: a repeated error bumps its row's count. The column schema.sql gained in place,
-- which CREATE TABLE IF NOT EXISTS never added to an existing file.
ALTER TABLE errors ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
