"""Shared fixtures for the integration tests: one real Postgres and the built variants per session.

- `database`: a seeded embedded Postgres for the whole session;
- `built_variants`: every variant of matrix.toml built once (name -> Variant);
- `oha`: the load generator, installed once if missing;
- `variant`: parametrizes a test over every variant of matrix.toml, built;
- an autouse session check that nothing started by the tests outlives the session;
- a check that every test using one of the first four (or a browser) is marked `slow`.
"""

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench.errors import BenchError
from bench.load import oha as loadgen
from bench.plan.matrix import Variant, load_variants
from bench.sut.database import Database, provision
from bench.sut.variants import build

VARIANTS = load_variants()
MARKER = "PYBENCH_TEST_SESSION"
NEEDS = {
    "python": "uv and access to PyPI (pip install uv)",
    "rust": "a Rust toolchain >= 1.88 (rustup.rs) and maturin (pip install maturin)",
}
_builds: dict[str, Variant | str] = {}


def build_once(name: str) -> Variant:
    """Build `name` at most once per session; fail (never skip) saying what to install."""
    if name not in _builds:
        variant = VARIANTS[name]
        try:
            build(variant)
            _builds[name] = variant
        except BenchError as exc:
            _builds[name] = f"cannot build variant {name} (it needs {NEEDS[variant.kind]}): {exc}"
    result = _builds[name]
    if isinstance(result, str):
        pytest.fail(result, pytrace=False)
    return result


SLOW_FIXTURES = {"database", "built_variants", "variant", "oha", "browser"}  # report.html's


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test that uses Postgres, a built variant, oha or a browser without the `slow`
    mark: the fast loop (`-m "not slow"`) must start none of them."""
    unmarked = [
        item.nodeid
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        uses = ", ".join(sorted(SLOW_FIXTURES))
        raise pytest.UsageError(f"mark @pytest.mark.slow (they use {uses}): {', '.join(unmarked)}")


@pytest.fixture(scope="session")
def built_variants() -> dict[str, Variant]:
    """Every variant declared in matrix.toml, built, by name."""
    return {name: build_once(name) for name in VARIANTS}


@pytest.fixture(params=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> Variant:
    """Each variant of matrix.toml in turn, built (a test using it runs once per variant)."""
    return build_once(request.param)


@pytest.fixture(scope="session")
def oha() -> Path:
    """oha, installed once with cargo into the user cache if it is not found."""
    return loadgen.locate()


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """A seeded embedded Postgres, removed at the end of the session."""
    with provision("embedded") as db:
        yield db


def interruptible() -> None:
    """preexec_fn: Ctrl-C (SIGINT) and SIGHUP back to their defaults in the child, so that a
    test can interrupt it even when the suite itself was started with them ignored (`cmd &`
    or nohup in a script, which the harness rightly respects)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def stop(proc: "subprocess.Popen[str]") -> None:
    """End a harness process a test gives up on: SIGTERM first, which the harness handles by
    stopping its servers and Postgres (SIGKILL would orphan them), SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def tagged(marker: str) -> Iterator[tuple[psutil.Process, str]]:
    """Live processes (not this one, not zombies) whose environment carries `marker`.

    Yields each with its command line (its name when the command line is empty).
    """
    for proc in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if proc.environ().get(MARKER) != marker:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        yield proc, " ".join(proc.info["cmdline"] or []) or proc.info["name"]


def leftovers(marker: str | None = None) -> list[str]:
    """Servers, oha and Postgres processes started by this test session still alive."""
    marks = (".nox/variants/", "pybench-pg-", "bin/oha")
    return [
        f"{proc.pid} {cmdline}"
        for proc, cmdline in tagged(marker or os.environ[MARKER])
        if proc.info["name"] == "postgres" or any(mark in cmdline for mark in marks)
    ]


@pytest.fixture(scope="session", autouse=True)
def clean_shutdown() -> Iterator[None]:
    """Tag every child with a session marker; at the end assert none of them survives."""
    marker = f"{os.getpid()}-{uuid.uuid4().hex}"
    os.environ[MARKER] = marker
    yield
    deadline = time.monotonic() + 5
    while (left := leftovers(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes outlived the test session: {left}"
