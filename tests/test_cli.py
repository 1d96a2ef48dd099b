"""`python -m bench` as a user runs it: one-line usage errors, and `serve` end to end."""

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from bench.database import free_port
from bench.variants import Variant, load_variants

# Without DATABASE_URL, so that every command uses the embedded provider unless told otherwise.
ENV = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        env=env or ENV, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bench: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [("serve", "nosuch", "--no-build"), ("verify", "--variants", "fastapi-async,nosuch")],
    ids=["serve", "verify"],
)
def test_unknown_variant_is_one_line_naming_the_known_ones(args: tuple[str, ...]) -> None:
    line = assert_one_line_usage_error(bench(*args))
    assert "'nosuch'" in line
    for name in load_variants():
        assert name in line, line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("verify", "--frobnicate"), "unrecognized arguments: --frobnicate"),
        (("serve", "--no-build"), "variant"),
        ((), "command"),
        (("serve", "fastapi-async", "--port", "99999", "--no-build"), "--port 99999"),
        (("verify", "--db", "sqlite", "--no-build"), "unknown database provider 'sqlite'"),
    ],
    ids=["unknown-flag", "missing-variant", "no-command", "bad-port", "bad-provider"],
)
def test_bad_command_line_is_one_line(args: tuple[str, ...], says: str) -> None:
    line = assert_one_line_usage_error(bench(*args))
    assert says in line, line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--profile", "nope"), "unknown profile 'nope'"),
        (("--variants", "axum,nosuch"), "unknown variant 'nosuch'"),
        (("--duration", "10x"), "not a duration"),
        (("--concurrency", "0"), "--concurrency 0 is out of range"),
        (("--repeats", "0"), "--repeats 0 is out of range"),
        (("--pin", "server=0"), "no CPUs for database, loadgen"),
        (("--pin", "server=0,db=0,loadgen=4096"), "not available"),
        (("--pin", "server=0,db=0,loadgen=0", "--no-pin"), "contradict"),
    ],
    ids=[
        "profile",
        "variant",
        "duration",
        "concurrency",
        "repeats",
        "pin-missing",
        "pin-cpu",
        "pin-and-no-pin",
    ],
)
def test_bad_run_options_are_one_line_and_write_nothing(
    args: tuple[str, ...], says: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    line = assert_one_line_usage_error(bench("run", "--no-build", "--out", str(out), *args))
    assert says in line, line
    assert not out.exists()


def test_oha_that_is_not_a_recent_oha_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**ENV, "OHA": "/bin/true"}
    line = assert_one_line_usage_error(bench("run", "--no-build", "--out", str(out), env=env))
    assert "OHA=/bin/true" in line and "needs oha >= 1.15.0" in line, line
    assert not out.exists()


def test_report_of_a_missing_or_foreign_file_is_one_line(tmp_path: Path) -> None:
    line = assert_one_line_usage_error(bench("report", str(tmp_path / "nothing")))
    assert "not a run folder" in line
    foreign = tmp_path / "results.json"
    foreign.write_text('{"schema_version": 99}')
    line = assert_one_line_usage_error(bench("report", str(tmp_path)))
    assert "schema_version 99" in line
    assert not (tmp_path / "report.md").exists()


def test_bad_database_url_is_one_line_without_the_password() -> None:
    env = {**ENV, "DATABASE_URL": "mysql://bench:hunter2@127.0.0.1:3306/bench"}
    line = assert_one_line_usage_error(
        bench("verify", "--variants", "fastapi-async", "--no-build", env=env)
    )
    assert "not a PostgreSQL URL" in line
    assert "hunter2" not in line


def _read_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    """Wait for a stdout line of `proc` matching `pattern`; fail with its stderr otherwise."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    proc.kill()
    _, err = proc.communicate()
    pytest.fail(f"no line matching {pattern!r} within {timeout} s; stdout {seen}, stderr {err}")


@pytest.mark.parametrize("variant", ["fastapi-async"], indirect=True)
def test_serve_end_to_end_and_clean_interrupt(variant: Variant) -> None:
    assert variant.executable.exists()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "serve", "fastapi-async", "--port", str(port),
         "--no-build"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        match = _read_line(
            proc, r"fastapi-async serving (http://127\.0\.0\.1:(\d+))/users "
            r"\(database postgresql://\S+@127\.0\.0\.1:(\d+)/", timeout=90,
        )  # fmt: skip
        base, server_port, db_port = match.group(1), int(match.group(2)), int(match.group(3))
        assert server_port == port
        with urllib.request.urlopen(f"{base}/users", timeout=10) as resp:
            assert resp.status == 200
            rows = json.loads(resp.read())
        assert len(rows) == 100
        assert sorted(rows[0]) == ["email", "user_id", "username"]
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "serve started no server process"
        postmaster = listener(db_port)
        assert postmaster is not None, f"nothing listens on the database port {db_port}"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["bench: interrupted; everything started was stopped"], err
    assert listener(port) is None, f"the server port {port} is still open"
    assert listener(db_port) is None, f"the database port {db_port} is still open"
    for child in [*children, postmaster]:
        assert not alive(child), f"{child} survived `serve` being interrupted"


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def listener(port: int) -> psutil.Process | None:
    """The process listening on 127.0.0.1:`port`, if any."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None
