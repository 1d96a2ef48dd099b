-- 2000 deterministic users: user n has user_id = md5('user' || n) as a UUID.
-- Idempotent: running it again inserts nothing and leaves the same rows.
INSERT INTO pybench.users (user_id, username, email)
SELECT md5('user' || n)::uuid::text, 'user' || n, 'user' || n || '@example.com'
FROM generate_series(1, 2000) AS n
ON CONFLICT DO NOTHING;

ANALYZE pybench.users;
