"""`python -m bench` as a user runs it: one-line usage errors, and `serve` end to end."""

import argparse
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import interruptible, stop

from bench import REPO
from bench.model.results import SCHEMA_VERSION
from bench.plan.matrix import MATRIX, Variant, load_variants
from bench.sut.cluster import free_port

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


def value_arguments() -> list[tuple[str, list[str], str]]:
    """Every argument of every command that takes a value, from the grammar itself: (command,
    the arguments that give it an empty value, the name the refusal must say)."""
    from bench.cli.grammar import build_parser

    parser = build_parser()
    needed = {"serve": ["axum"], "flamegraph": ["axum"], "compare": ["default"]}
    found = [("", ["--matrix", "", "report"], "--matrix")]
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for command, sub in commands.choices.items():
        positionals = [a for a in sub._actions if not a.option_strings]
        for action in sub._actions:
            if action.nargs == 0 or action.dest == "help":
                continue
            if action.option_strings:
                args = [command, *needed.get(command, []), action.option_strings[0], ""]
                found.append((command, args, action.option_strings[0]))
            else:
                at = positionals.index(action)
                given = [*needed.get(command, []), "latest"][:at]
                found.append((command, [command, *given, ""], str(action.metavar or action.dest)))
    return found


@pytest.mark.parametrize(
    ("args", "name"),
    [case[1:] for case in value_arguments()],
    ids=[f"{c[0] or 'top'}:{c[2]}" for c in value_arguments()],
)
def test_every_argument_given_an_empty_value_is_one_line_and_starts_nothing(
    args: list[str], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--variants "$VARS"` with VARS unset never means "all": every value-taking argument of
    every command refuses an empty or blank value, before anything is read, built or started."""
    from bench.cli import main

    before = tree(REPORTS)
    for blank in ("", "  "):
        assert main([blank if a == "" else a for a in args]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"bench: error: {name} is empty: give it a value"), err
    assert psutil.Process().children() == []
    assert tree(REPORTS) == before


def test_the_grammar_has_the_arguments_the_table_above_tries() -> None:
    names = {(c, n) for c, _, n in value_arguments()}
    expected = [("run", "--variants"), ("run", "--out"), ("run", "--db"), ("serve", "variant"),
                ("compare", "RUN_B"), ("report", "RUN_DIR"), ("flamegraph", "--pin")]  # fmt: skip
    assert set(expected) <= names
    assert len(names) > 60


def tree(root: Path) -> list[tuple[str, int]]:
    """Every path under `root` with its modification time, to tell whether anything changed."""
    return sorted((str(p), p.lstat().st_mtime_ns) for p in [root, *root.rglob("*")])


REPORTS = REPO / "reports"
UNREACHABLE = "postgresql://bench@127.0.0.1:1/bench"
EXTERNAL = ["--db", "external"]
# File systems the preflight cases need, mounted by the `mounts` fixture (as root): one with
# no free inode (os.access says writable, creating a file fails) and one of 1 MiB.
MOUNTS = Path(tempfile.gettempdir()) / f"pybench-preflight-{os.getpid()}"
NO_INODES, TINY = MOUNTS / "no-inodes", MOUNTS / "tiny"
NO_SBIN = ":".join(p for p in os.environ["PATH"].split(":") if not p.rstrip("/").endswith("sbin"))
NO_USERADD = {"PATH": NO_SBIN, "PYBENCH_PG_USER": "pybench-nosuch-account"}
BAD_INPUT = [
    # (id, run arguments, environment additions, what the one line must say)
    ("profile", ["--profile", "nope"], {}, "unknown profile 'nope'"),
    ("variant", ["--variants", "axum,nosuch"], {}, "unknown variant 'nosuch'"),
    ("variant-twice", ["--variants", "axum,axum"], {}, "names a variant twice"),
    ("duration", ["--duration", "10x"], {}, "not a duration"),
    ("duration-and-requests", ["--duration", "1s", "--requests", "9"], {}, "contradict"),
    ("requests", ["--requests", "0"], {}, "--requests 0 is out of range"),
    ("repeats", ["--repeats", "0"], {}, "--repeats 0 is out of range"),
    ("seed", ["--seed", "-3"], {}, "--seed '-3' is not a whole number from 0 to 4294967295"),
    ("concurrency", ["--concurrency", "0"], {}, "--concurrency 0 is out of range"),
    ("concurrency-list", ["--concurrency", "1,ten"], {}, "'ten' is not a whole number"),
    ("keepalive", ["--keepalive", "sometimes"], {}, "is not on or off"),
    ("host-check", ["--host-check", "on,maybe"], {}, "--host-check 'maybe' is not on or off"),
    ("limit", ["--limit", "1,5000"], {}, "--limit 5000 is out of range"),
    ("workers", ["--workers", "0"], {}, "--workers 0 is out of range"),
    ("connections", ["--workers", "10", "--pool", "10"], {}, "workers x (pool + overflow) = 100"),
    ("overflow", ["--overflow", "0,51"], {}, "--overflow 51 is out of range"),
    ("matrix", ["--matrix", "/no/such/matrix.toml"], {}, "no such file"),
    ("runtime", ["--runtime", "hypercorn"], {}, "--runtime 'hypercorn' is unknown"),
    ("open-loop", ["--open-loop", "0.5,1.5"], {}, "--open-loop 1.5 is out of range"),
    ("open-loop-word", ["--open-loop", "half"], {}, "is not a list of fractions"),
    ("all-skipped", ["--variants", "fastapi-tuned", "--runtime", "uvicorn"], {}, "every cell"),
    ("shard", ["--shard", "4/3"], {}, "--shard '4/3' is not I/N"),
    ("shard-count", ["--shard", "1/9"], {}, "1 comparison group into 9 shards; use 1 shard"),
    ("list-shards", ["--list-shards", "0"], {}, "into 0 shards"),
    ("pin-missing", ["--pin", "server=0"], {}, "no CPUs for database, loadgen"),
    ("pin-cpu", ["--pin", "server=0,db=0,loadgen=4096"], {}, "not available"),
    ("pin-and-no-pin", ["--pin", "server=0,db=0,loadgen=0", "--no-pin"], {}, "contradict"),
    ("db", ["--db", "sqlite"], {}, "unknown database provider 'sqlite'"),
    ("db-case", ["--db", "Embedded"], {}, "unknown database provider 'Embedded'"),
    ("variants-empty", ["--variants", ""], {}, "--variants is empty"),
    ("variants-empty-item", ["--variants", "axum,"], {}, "--variants 'axum,' has an empty item"),
    ("profile-empty", ["--profile", ""], {}, "--profile is empty"),
    ("out-empty", ["--out", ""], {}, "--out is empty"),
    ("pin-empty", ["--pin", " "], {}, "--pin is empty"),
    ("shard-empty", ["--shard", ""], {}, "--shard is empty"),
    ("duration-empty", ["--duration", ""], {}, "--duration is empty"),
    ("runtime-empty-item", ["--runtime", "uvicorn,"], {}, "write e.g. --runtime uvicorn,granian"),
    ("flag", ["--frobnicate"], {}, "unrecognized arguments: --frobnicate"),
    ("out-under-a-file", ["--out", "/dev/null/run"], {}, "cannot be created"),
    ("out-a-file", ["--out", "/dev/null"], {}, "is a file"),
    ("url-malformed", EXTERNAL, {"DATABASE_URL": "mysql://u:hunter2@h/db"}, "not a PostgreSQL"),
    ("url-bad-port", EXTERNAL, {"DATABASE_URL": "postgresql://u@h:99999/db"}, "not a PostgreSQL"),
    ("url-unreachable", EXTERNAL, {"DATABASE_URL": UNREACHABLE}, "cannot be used"),
    ("external-without-url", EXTERNAL, {}, "needs DATABASE_URL"),
    ("db-cleanup-local", ["--db-cleanup"], {}, "--db-cleanup applies to --db external"),
    ("oha", [], {"OHA": "/bin/true"}, "needs oha >= 1.15.0"),
    ("no-useradd", [], NO_USERADD, "useradd is not on PATH, and the account pybench-nosuch"),
    ("out-unwritable", ["--out", f"{NO_INODES}/run"], {}, f"{NO_INODES} is not writable"),
    ("disk-out", ["--out", f"{TINY}/run"], {}, "not enough disk space for the run folder"),
    ("disk-tmp", [], {"TMPDIR": str(TINY)}, "not enough disk space for the throwaway Postgres"),
    ("net", ["--net", "moon"], {}, "--net 'moon' is unknown; use loopback, namespaces"),
    ("db-rtt-word", ["--net", "namespaces", "--db-rtt-ms", "1x"], {}, "not a list of millisec"),
    ("db-rtt-range", ["--net", "namespaces", "--db-rtt-ms", "0,500"], {}, "--db-rtt-ms 500 is"),
    ("http-rtt-range", ["--net", "namespaces", "--http-rtt-ms", "-1"], {}, "--http-rtt-ms -1 is"),
    ("net-no-ip", ["--net", "namespaces"], {"PATH": "/nonexistent"}, "`ip` is not on PATH"),
    ("net-external", ["--net", "namespaces", *EXTERNAL], {"DATABASE_URL": UNREACHABLE}, "stays"),
    ("net-soak", ["--net", "namespaces", "--soak", "1m"], {}, "--soak runs on loopback only"),
]


@pytest.fixture(scope="module")
def mounts() -> Iterator[None]:
    """Mount the preflight cases' file systems (a tmpfs needs root), unmount them after."""
    options = {NO_INODES: "size=64m,nr_inodes=1", TINY: "size=1m"}
    try:
        for path, opts in options.items():
            path.mkdir(parents=True)
            cmd = ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)]
            if subprocess.run(cmd, capture_output=True).returncode != 0:
                pytest.fail("the preflight cases mount a tmpfs: run the tests as root")
        yield
    finally:
        for path in options:
            subprocess.run(["umount", str(path)], capture_output=True)
        shutil.rmtree(MOUNTS, ignore_errors=True)


@pytest.mark.slow  # forty runs of the command line, a second or more each
@pytest.mark.parametrize(
    ("args", "env", "says"), [case[1:] for case in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
@pytest.mark.usefixtures("mounts")
def test_bad_run_input_is_one_line_exit_2_and_writes_nothing(
    args: list[str], env: dict[str, str], says: str
) -> None:
    before = tree(REPORTS)
    line = assert_one_line_usage_error(bench("run", "--no-build", *args, env={**ENV, **env}))
    assert says in line, line
    assert "hunter2" not in line
    assert tree(REPORTS) == before, "a refused run changed reports/"


@pytest.mark.slow  # over 2 s
def test_report_of_a_missing_or_foreign_file_is_one_line(tmp_path: Path) -> None:
    line = assert_one_line_usage_error(bench("report", str(tmp_path / "nothing")))
    assert "not a run folder" in line
    foreign = tmp_path / "results.json"
    foreign.write_text('{"schema_version": 99}')
    line = assert_one_line_usage_error(bench("report", str(tmp_path)))
    assert f"results schema 99, newer than this tool's {SCHEMA_VERSION}" in line
    foreign.write_text('{"schema_version": 2, "run_id": "x"}')  # known version, invalid
    line = assert_one_line_usage_error(bench("report", str(tmp_path)))
    assert "does not match results schema 2" in line
    assert not (tmp_path / "report.md").exists()


def test_bad_database_url_is_one_line_without_the_password() -> None:
    env = {**ENV, "DATABASE_URL": "mysql://bench:hunter2@127.0.0.1:3306/bench"}
    line = assert_one_line_usage_error(
        bench("verify", "--variants", "fastapi-async", "--db", "external", "--no-build", env=env)
    )
    assert "not a PostgreSQL URL" in line
    assert "hunter2" not in line


def test_database_url_alone_is_ignored_in_one_line() -> None:
    """Many developers' shells set DATABASE_URL for their own work: only --db external uses it."""
    env = {**ENV, "DATABASE_URL": "postgresql://me:hunter2@127.0.0.1:1/mine"}
    result = bench("run", "--dry-run", "--profile", "smoke", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "bench: ignoring DATABASE_URL: the run uses a throwaway local Postgres; "
        "pass --db external to benchmark against that server"
    ]


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
    stop(proc)
    _, err = proc.communicate()
    pytest.fail(f"no line matching {pattern!r} within {timeout} s; stdout {seen}, stderr {err}")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fastapi-async"], indirect=True)
def test_serve_end_to_end_and_clean_interrupt(variant: Variant) -> None:
    assert variant.executable.exists()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "serve", "fastapi-async", "--port", str(port),
         "--no-build"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=interruptible,
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
        stop(proc)
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


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ('kind = "go"', "kind must be one of python, rust"),
        ('kind = "python"\nsummary = "s"\nrps_hint = 1\napp = "m:f"\nruntimes = []', "lacks path"),
        (
            'kind = "rust"\npath = "x"\nsummary = "s"\nrps_hint = 1\nbinary = "b"\ncolour = 1',
            "colour",
        ),
        (
            'kind = "python"\npath = "x"\nsummary = "s"\nrps_hint = 1\napp = "m:f"\n'
            'runtimes = ["hypercorn"]',
            "unknown runtime 'hypercorn'",
        ),
    ],
    ids=["kind", "missing-key", "unknown-key", "runtime"],
)
def test_a_wrong_variant_entry_is_one_line_naming_it(entry: str, says: str, tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.toml"
    matrix.write_text(MATRIX.read_text() + f"\n[variants.mine]\n{entry}\n")
    line = assert_one_line_usage_error(bench("--matrix", str(matrix), "run", "--dry-run"))
    assert "[variants.mine]" in line and says in line, line
