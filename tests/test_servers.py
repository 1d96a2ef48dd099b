"""Every server variant, started for real against Postgres: answers, pinning, clean stop."""

import dataclasses
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Iterator

import psutil
import pytest
from conftest import alive
from test_matrix import plan

from bench.errors import BenchError, UsageError
from bench.load.processes import cpus_allowed
from bench.plan.matrix import Variant, load_variants, runtime
from bench.run.runner import read_back
from bench.sut.cluster import free_port
from bench.sut.database import Database, check, seed
from bench.sut.variants import running
from bench.sut.verify import (
    BAD_LIMITS,
    GOOD_LIMITS,
    VerificationError,
    expected_rows,
    fetch,
    verify,
)


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.slow
def test_verify_passes_and_headers_are_json(variant: Variant, database: Database) -> None:
    with running(variant, database) as server:
        checked = verify(variant.name, server.url, database)
        status, ctype, body = fetch(server.url + "/health")
        users_status, users_ctype, users_body = fetch(server.url + "/users?limit=3")
    # /users, limit=1, limit=2000 and the whole bad-input table
    assert (len(GOOD_LIMITS), len(BAD_LIMITS)) == (3, 7)
    assert checked == 10
    assert status == 200, body
    assert ctype.startswith("application/json")
    said = json.loads(body)
    assert said["status"] == "ok" and said["pool"] == 5
    if variant.python:  # read from inside the process: the loop it runs, the parser uvicorn loaded
        declared = runtime(variant.runtime)
        assert (said["loop"], said["http"]) == (declared["loop"], declared["http"])
    assert users_status == 200
    assert users_ctype.split(";")[0].strip() == "application/json"
    first_ids = sorted(str(uuid.UUID(hashlib.md5(f"user{n}".encode()).hexdigest())) for n in
                       range(1, 2001))[:3]  # fmt: skip
    assert [row["user_id"] for row in json.loads(users_body)] == first_ids


SHELL_PG = {"PGOPTIONS": "-c statement_timeout=1", "PGSSLMODE": "require", "PGSERVICE": "none"}


@pytest.mark.slow
def test_libpq_variables_of_the_users_shell_never_reach_a_server(
    variant: Variant,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each stack reads its own set of PG* variables: a server gets the URL alone (with these
    the embedded cluster, which has no TLS, would refuse every stack's connections)."""
    for name, value in SHELL_PG.items():
        monkeypatch.setenv(name, value)
    check("embedded")  # as every command does before anything starts
    assert capsys.readouterr().err.startswith(
        "bench: ignoring PGOPTIONS, PGSERVICE, PGSSLMODE from the environment: "
    )
    with running(variant, database) as server:
        assert verify(variant.name, server.url, database) == 10
        environ = psutil.Process(server.pid).environ()
    assert not SHELL_PG.keys() & environ.keys()
    assert environ["DATABASE_URL"] == database.url


def test_an_external_server_keeps_the_users_credentials_and_drops_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGPASSWORD", "secret")
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=1GB")
    monkeypatch.setenv("PG_CONFIG", "/usr/bin/pg_config")  # not libpq's
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(UsageError, match="needs DATABASE_URL"):
        check("external")
    assert os.environ.get("PGPASSWORD") == "secret" and "PGOPTIONS" not in os.environ
    check("embedded")
    assert "PGPASSWORD" not in os.environ  # a throwaway cluster's is in the harness's passfile
    assert os.environ["PG_CONFIG"] == "/usr/bin/pg_config"


@pytest.mark.slow
def test_runs_pinned_and_leaves_nothing_behind(variant: Variant, database: Database) -> None:
    with running(variant, database, cpus={0}) as server:
        tree = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
        affinity = {p.pid: cpus_allowed(p.pid) for p in tree}
        threads = {t.id: cpus_allowed(t.id) for t in psutil.Process(server.pid).threads()}
        assert fetch(server.url + "/users?limit=1")[0] == 200
        url = server.url
    assert set(affinity.values()) == {"0"}, affinity
    assert set(threads.values()) == {"0"}, threads
    survivors = [p.pid for p in tree if alive(p.pid)]
    assert not survivors, f"{variant.name} left processes running: {survivors}"
    assert not port_open(url), f"{variant.name} still listens on {url}"


@pytest.fixture
def copy(database: Database) -> Iterator[Database]:
    """A freshly seeded database of its own on the session's server, dropped afterwards."""
    name = f"mismatch_{uuid.uuid4().hex[:12]}"
    with database.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        url = database.url.rsplit("/", 1)[0] + f"/{name}"
        yield seed(dataclasses.replace(database, url=url))
    finally:
        with database.connect() as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())


@pytest.mark.slow
def test_verification_fails_on_a_real_mismatch(
    variant: Variant, database: Database, copy: Database
) -> None:
    """The server reads a copy whose row 5 is changed; verify compares with the pristine seed."""
    with running(variant, copy) as server:
        assert verify(variant.name, server.url, database) == 10
        with copy.connect() as conn:
            row = conn.execute(
                "SELECT user_id, email FROM users ORDER BY user_id OFFSET 5 LIMIT 1"
            ).fetchone()
            assert row is not None
            user_id, email = row
            conn.execute(
                "UPDATE users SET email = 'tampered@example.com' WHERE user_id = %s", [user_id]
            )
        with pytest.raises(VerificationError) as err:
            verify(variant.name, server.url, database)
    message = str(err.value)
    assert message.startswith(f"{variant.name}: GET /users row 5 is "), message
    assert user_id in message and "tampered@example.com" in message, message
    assert f"the database has {{'user_id': '{user_id}'" in message and email in message, message


def test_no_answer_is_a_verification_error_not_a_crash() -> None:
    """A server that died before or during verification (nothing listens on its port)."""
    url = f"http://127.0.0.1:{free_port()}/users"
    with pytest.raises(VerificationError, match=f"GET {url} got no answer"):
        fetch(url)


def test_an_unreachable_database_is_a_bench_error() -> None:
    with pytest.raises(BenchError, match="cannot read the rows to expect from the database"):
        gone = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/bench", "external", "")
        expected_rows(gone, 1)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fastapi-async"], indirect=True)
def test_a_server_that_runs_another_loop_or_pool_than_declared_fails(
    variant: Variant, database: Database
) -> None:
    """fastapi-async runs asyncio + h11 with a pool of 5; a cell claiming otherwise fails."""
    cell = plan(variants="fastapi-async").cells[0]
    with running(variant, database, params=cell.params) as server:
        info = read_back(server, cell.params)
        assert info.reported["loop"] == "asyncio" and info.database_connections == 5
        assert (info.reported["driver"], info.workers) == ("asyncpg", 1)
        claims = cell.params.model_copy(
            update={"runtime": "uvicorn-standard", "pool": 7, "workers": 2}
        )
        with pytest.raises(BenchError) as failure:
            read_back(server, claims)
    said = str(failure.value)
    assert (
        "loop 'asyncio' (declared 'uvloop')" in said and "http 'h11' (declared 'httptools')" in said
    )
    assert "pool 5 (declared 7)" in said and "workers 1 (declared 2)" in said


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fastapi-async"], indirect=True)
@pytest.mark.parametrize("name", ["uvicorn", "granian"])
def test_workers_are_counted_from_the_processes(
    variant: Variant, name: str, database: Database
) -> None:
    """Two workers, each with its own pool: both accept on the port, 10 connections at most."""
    cell = plan(variants=variant.name, runtime=name, workers="2").cells[0]
    with running(variant, database, params=cell.params) as server:
        verify(variant.name, server.url, database)
        info = read_back(server, cell.params)
    assert (info.workers, info.database_connections) == (2, 10)
    assert info.command[info.command.index("--workers") + 1] == "2"


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fastapi-sync-psycopg2"], indirect=True)
def test_the_published_sync_configuration_reads_back_as_published(
    variant: Variant, database: Database
) -> None:
    """seed-exact's sync row: uvloop + httptools, psycopg2, SQLAlchemy's 5 + 10."""
    (cell,) = [c for c in plan("seed-exact").cells if c.variant == variant.name]
    with running(variant, database, params=cell.params) as server:
        verify(variant.name, server.url, database)
        info = read_back(server, cell.params)
    said = info.reported
    assert (said["server"], said["loop"], said["http"]) == ("uvicorn", "uvloop", "httptools")
    assert (said["driver"], said["pool"], said["overflow"]) == ("psycopg2", 5, 10)
    assert info.database_connections == 15


RUNS_ON = [(v.name, r) for v in load_variants().values() for r in v.runtimes]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "name"), RUNS_ON, ids=[f"{v}-{r}" for v, r in RUNS_ON], indirect=["variant"]
)
def test_every_declared_runtime_serves_and_reads_back_as_declared(
    variant: Variant, name: str, database: Database
) -> None:
    cell = plan(variants=variant.name, runtime=name).cells[0]
    with running(variant, database, params=cell.params) as server:
        verify(variant.name, server.url, database)
        info = read_back(server, cell.params)
    declared = runtime(name)
    said = info.reported
    assert (said["server"], said["loop"], said["http"]) == (
        declared["server"],
        declared["loop"],
        declared["http"],
    )
    assert said["driver"] == variant.driver
    assert info.command[1:3] == ["-m", declared["server"]], info.command  # the venv's python -m
