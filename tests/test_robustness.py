"""Every variant, under every runtime it declares, answers junk with a 4xx and keeps serving.

Each junk request goes over a raw socket, byte for byte as written here (no client library
fixes it up), with `Connection: close`; after each one, a normal GET /users on a new
connection must still answer 200 with 100 rows. The throwaway variant (tests/data/throwaway,
a bare ASGI app) is locked and built from a copy of its folder, as in test_new_variant.py.
"""

import contextlib
import dataclasses
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import build_once
from test_matrix import plan as matrix_plan

from bench.model.plan import Plan
from bench.plan.matrix import Variant, load_variants
from bench.sut import locks
from bench.sut.database import Database
from bench.sut.variants import Server, build, running
from bench.sut.verify import fetch

pytestmark = pytest.mark.slow  # every variant built and served against Postgres

THROWAWAY = Variant(
    name="throwaway-robustness",
    kind="python",
    path="",  # set to a copy of tests/data/throwaway by the fixture
    summary="a bare ASGI app over asyncpg",
    rps_hint=1000,
    app="throwaway_app:create_app",
    app_extras=("app",),
    runtimes=("uvicorn",),
    driver="asyncpg",
)
SERVES = [
    *((v.name, r) for v in load_variants().values() for r in (v.runtimes or (None,))),
    (THROWAWAY.name, "uvicorn"),
]
QUERY_64K = "pad=" + "a" * (64 * 1024 - 4)

# name -> (request bytes, the statuses a correct server may answer)
JUNK: dict[str, tuple[bytes, set[int]]] = {
    "unknown path": (b"GET /nope HTTP/1.1\r\nHost: localhost\r\n", {404}),
    "POST /users": (b"POST /users HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n", {405}),
    "DELETE /users": (b"DELETE /users HTTP/1.1\r\nHost: localhost\r\n", {405}),
    "64 KiB query string": (
        f"GET /users?{QUERY_64K} HTTP/1.1\r\nHost: localhost\r\n".encode(),
        {400, 414, 422, 431},
    ),
    "64 KiB limit": (
        f"GET /users?limit={'9' * 64 * 1024} HTTP/1.1\r\nHost: localhost\r\n".encode(),
        {400, 414, 422, 431},
    ),
    "malformed percent-encoding in the query": (
        b"GET /users?limit=%zz HTTP/1.1\r\nHost: localhost\r\n",
        {400, 422},
    ),
    "malformed percent-encoding in the path": (
        b"GET /users%zz HTTP/1.1\r\nHost: localhost\r\n",
        {400, 404},
    ),
    "HTTP/1.1 without Host": (b"GET /users HTTP/1.1\r\n", {400}),
    "a Host that is not this machine (DNS rebinding)": (
        b"GET /users HTTP/1.1\r\nHost: attacker.example\r\n",
        {400},
    ),
}


def raw_status(url: str, request: bytes, timeout: float = 10.0) -> int | None:
    """Send `request` (its headers, without the blank line) with `Connection: close` over a
    raw socket; the status code the server answers, or None if it closes without one."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        # it may answer and close before reading all of a long request
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request + b"Connection: close\r\n\r\n")
        answer = b""
        try:
            while b"\r\n" not in answer and (chunk := sock.recv(4096)):
                answer += chunk
        except ConnectionResetError:
            pass
    status_line = answer.split(b"\r\n", 1)[0].split()
    return int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else None


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Variant]:
    """The throwaway variant, locked and built from a copy of its folder."""
    folder = tmp_path_factory.mktemp("throwaway")
    shutil.copytree(Path(__file__).parent / "data" / "throwaway", folder, dirs_exist_ok=True)
    variant = dataclasses.replace(THROWAWAY, path=str(folder))
    locks.lock_variant(variant)
    build(variant)
    yield variant
    shutil.rmtree(variant.venv, ignore_errors=True)


def plan(name: str, runtime_name: str | None) -> Plan:
    """The one-cell plan of `name` under `runtime_name` (its own runtime for None)."""
    return matrix_plan(variants=name, **({"runtime": runtime_name} if runtime_name else {}))


@pytest.fixture(scope="module", params=SERVES, ids=[f"{v}-{r or 'tokio'}" for v, r in SERVES])
def server(
    request: pytest.FixtureRequest, database: Database, throwaway: Variant
) -> Iterator[Server]:
    """One variant under one runtime, running for all the junk requests of this module."""
    name, runtime_name = request.param
    variant = throwaway if name == THROWAWAY.name else build_once(name)
    params = None if variant is throwaway else plan(name, runtime_name).cells[0].params
    with running(variant, database, params=params) as server:
        yield server


@pytest.mark.parametrize("junk", list(JUNK))
def test_junk_gets_a_4xx_and_the_server_keeps_serving(server: Server, junk: str) -> None:
    request, allowed = JUNK[junk]
    status = raw_status(server.url, request)
    assert status in allowed, f"{junk}: answered {status}, expected one of {sorted(allowed)}"
    users_status, _, body = fetch(server.url + "/users")
    assert users_status == 200 and len(json.loads(body)) == 100
    assert server.proc.poll() is None
