-- The one table every server variant reads. Created only if missing: the
-- pipeline never drops anything, so it is safe against an external database.
CREATE TABLE IF NOT EXISTS users (
    user_id  TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email    TEXT NOT NULL UNIQUE
);
