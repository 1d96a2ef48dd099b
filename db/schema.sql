-- The one table every server variant reads, inside the tool's own schema (pybench), which
-- the harness creates and marks first (bench/sut/schema.py). Nothing outside it is touched:
-- the servers find `users` through their search path (DB_SCHEMA).
CREATE TABLE IF NOT EXISTS pybench.users (
    user_id  TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email    TEXT NOT NULL UNIQUE
);
