"""What the pipeline creates in a database, and nothing else: one schema, named for the tool.

The schema `pybench` holds the one table the servers read (`pybench.users`); both carry a
comment that marks them as this tool's. Nothing outside that schema is created, written,
altered or dropped, and a schema or table of that name without the mark is refused. Every
statement runs with a lock timeout and a statement timeout, so a busy database makes the
run fail in seconds instead of waiting on someone else's lock.
"""

from pathlib import Path

import psycopg
from psycopg import sql

from bench import REPO
from bench.errors import BenchError, UsageError, first_line

SCHEMA = "pybench"
MARKER = "created by pybench (FastAPI vs Axum benchmark); python -m bench db-cleanup drops it"
SEED_ROWS = 2000
TIMEOUTS = {"lock_timeout": "5s", "statement_timeout": "60s"}
Conn = psycopg.Connection[tuple[object, ...]]


def options(schema: str = SCHEMA) -> str:
    """libpq `options` for the harness's own sessions: the search path and the timeouts."""
    settings = {"search_path": schema, **TIMEOUTS}
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def connect(url: str, passfile: Path | None = None, *, autocommit: bool = True) -> Conn:
    """A connection of the harness: search path on the schema, timeouts on every statement."""
    return psycopg.connect(
        url,
        autocommit=autocommit,
        connect_timeout=10,
        options=options(),
        passfile=str(passfile) if passfile else None,  # None: libpq's own default
    )


def _mark(conn: Conn, kind: str, name: str) -> str | None:
    """The comment on schema or table `name` ('' when it has none, None when it is missing)."""
    if kind == "schema":
        query = "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s"
    else:
        query = (
            "SELECT obj_description(to_regclass(%s), 'pg_class') WHERE to_regclass(%s) IS NOT NULL"
        )
    row = conn.execute(query, [name] if kind == "schema" else [name, name]).fetchone()
    return None if row is None else str(row[0] or "")


def preflight(conn: Conn, where: str) -> None:
    """Refuse, in one line, a database this tool cannot or must not write to."""
    role, dbname, recovery, read_only = conn.execute(
        "SELECT current_user, current_database(), pg_is_in_recovery(),"
        " current_setting('default_transaction_read_only')"
    ).fetchone() or ("?", "?", False, "off")
    if recovery:
        raise UsageError(f"{where} is a read-only standby (in recovery); point it at the primary")
    if read_only == "on":
        raise UsageError(
            f"{where} is read-only for role {role} (default_transaction_read_only = on); "
            "use a role and database that may write"
        )
    mark = _mark(conn, "schema", SCHEMA)
    if mark is not None and mark != MARKER:
        raise UsageError(
            f"{where} already has a schema {SCHEMA} that this tool did not create; "
            "use another database, or drop or rename that schema yourself"
        )
    needed = ("database", dbname, "CREATE") if mark is None else ("schema", SCHEMA, "USAGE,CREATE")
    query = f"SELECT has_{needed[0]}_privilege(%s, %s)"
    if not (conn.execute(query, list(needed[1:])).fetchone() or (False,))[0]:
        raise UsageError(
            f"role {role} may not create the schema {SCHEMA} in database {dbname} at {where}; "
            f"GRANT CREATE ON DATABASE {dbname} TO {role}, or use another role"
        )


def seed(conn: Conn, where: str) -> str:
    """Create the schema and its users table if missing, insert the 2000 users; all or nothing.

    Returns the server version. A users table in the schema that lacks the mark, or that
    holds rows other than the seed, is refused before anything is written.
    """
    statements = (REPO / "db" / name for name in ("schema.sql", "seed.sql"))
    table = f"{SCHEMA}.users"
    try:
        with conn.transaction():
            if _mark(conn, "schema", SCHEMA) is None:
                conn.execute(f"CREATE SCHEMA {SCHEMA}".encode())
                conn.execute(_comment("SCHEMA", SCHEMA))
            if _mark(conn, "table", table) not in (None, MARKER):
                raise BenchError(
                    f"{where} has a table {table} this tool did not create: left as is"
                )
            conn.execute(next(statements).read_bytes())
            conn.execute(_comment("TABLE", table))
            if (count := _count(conn)) not in (0, SEED_ROWS):
                raise BenchError(
                    f"{table} at {where} holds {count} rows, not the {SEED_ROWS} this tool "
                    "seeds: run `python -m bench db-cleanup` and try again"
                )
            conn.execute(next(statements).read_bytes())
            if (count := _count(conn)) != SEED_ROWS:
                raise BenchError(f"{table} at {where} holds {count} rows after seeding")
        version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        raise BenchError(f"cannot seed the database at {where}: {first_line(exc)}") from None
    return str(version[0]) if version else "unknown"


def _comment(kind: str, name: str) -> sql.Composed:
    """COMMENT ON `kind` `name` IS the mark (a utility statement: the literal is inlined)."""
    return sql.SQL("COMMENT ON {} {} IS {}").format(sql.SQL(kind), sql.SQL(name), MARKER)


def _count(conn: Conn) -> int:
    row = conn.execute(f"SELECT count(*) FROM {SCHEMA}.users".encode()).fetchone()
    return int(str(row[0])) if row else 0


def cleanup(conn: Conn, where: str) -> str:
    """Drop the users table and the schema if (and only if) they carry this tool's mark.

    Nothing is dropped with CASCADE: an object of someone else's inside the schema, or
    depending on the table, keeps it, and the answer says so.
    """
    if _mark(conn, "schema", SCHEMA) != MARKER:
        return f"nothing to clean at {where}: no schema {SCHEMA} created by this tool"
    try:
        with conn.transaction():
            if _mark(conn, "table", f"{SCHEMA}.users") == MARKER:
                conn.execute(f"DROP TABLE {SCHEMA}.users RESTRICT".encode())
            conn.execute(f"DROP SCHEMA {SCHEMA} RESTRICT".encode())
    except psycopg.Error as exc:
        raise BenchError(
            f"left schema {SCHEMA} at {where} as is: {first_line(exc)} "
            "(it holds or feeds objects this tool did not create)"
        ) from None
    return f"dropped schema {SCHEMA} and its users table at {where}"
