"""`python -m bench run` end to end: real Postgres, real servers, real oha, smoke-sized."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest
from conftest import MARKER, interruptible, leftovers, stop, tagged

from bench import REPO
from bench.analysis import efficiency
from bench.model import store
from bench.plan import pinning
from bench.plan.matrix import Variant
from bench.plan.order import round_order

pytestmark = pytest.mark.slow  # runs of `bench run` with built variants, Postgres and oha

SCHEMA = json.loads(store.SCHEMA_FILE.read_text())


def bench(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    """Start `python -m bench ...` in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=interruptible,
        **kwargs,
    )  # type: ignore[call-overload]


def test_smoke_run_measures_every_variant_pinned(
    oha: Path, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    latest = REPO / "reports" / "latest"
    before = os.readlink(latest) if latest.is_symlink() else None
    proc = bench("run", "--profile", "smoke", "--no-build", "--seed", "42", "--out", str(out))
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert (os.readlink(latest) if latest.is_symlink() else None) == before  # not under reports/
    data = json.loads((out / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    run = store.load(out / "results.json")
    measured = [name for name, v in built_variants.items() if not v.opt_in]
    assert [c.variant for c in run.cells] == measured  # plan order in the file
    assert run.plan.seed == 42  # measured in the round's shuffled order
    ran = sorted(run.cells, key=lambda c: c.repeats[0].started_at)
    assert ran == round_order(run.cells, 42, "closed", 0) != run.cells
    plan = pinning.auto()
    for cell in run.cells:
        assert cell.ok, cell.error
        assert cell.repeats[0].load.rps > 0 and cell.repeats[0].load.ok > 0
        for role in ("server", "database", "loadgen"):
            assert cell.cpus[role] == pinning.fmt(plan.of(role) or []), (cell.variant, role)
        usage = cell.repeats[0].usage
        assert usage["server"].peak_rss_mib > 0 and usage["server"].samples >= 4
        for role in ("server", "database", "loadgen"):  # CPU seconds accounted for every role
            busy = (usage[role].cpu_user_s or 0) + (usage[role].cpu_system_s or 0)
            assert 0 < busy <= 2 * (usage[role].wall_s or 0), (cell.variant, role, usage[role])
        per_request = efficiency.cpu_ms_per_request(cell.repeats[0], "server")
        assert per_request is not None and 0.005 < per_request < 50, (cell.variant, per_request)
        canary = cell.repeats[0].canary  # the machine, read before and after on every CPU
        assert canary and set(canary.before.ms) == set(canary.after.ms) == set(
            map(str, plan.used())
        )
    meta = run.metadata
    assert (meta.tools["oha"] or "").startswith("oha ") and meta.git.commit
    assert all(meta.variants[v].packages for v in measured)
    assert meta.variants["axum"].packages["axum"].startswith("0.")  # its crates, from Cargo.lock
    for cell in run.cells:
        assert cell.server and cell.server.command[-1] != ""
        assert (out / cell.artifacts["server_log"]).is_file()
        assert cell.server.declared["pool"] == cell.server.reported["pool"] == cell.params.pool
    assert "--disable-keepalive" in run.cells[0].oha_command
    assert "--db-url" in run.cells[0].oha_command  # every request, for the histograms
    assert all(r.latency_hdr for c in run.cells for r in c.repeats)
    assert not list(out.glob("cells/*/requests.db"))  # read into histograms, then removed
    report = (out / "report.md").read_text()
    assert all(f"| {v}" in report or f" {v} |" in report for v in measured)
    assert "report.md" in stdout
    assert "| server CPU per request (ms) |" in report
    assert "database CPU per request ÷ per pgbench query" in report
    assert run.probes[0].values["database_cpu_s"] > 0  # the ceiling's database, accounted alike


def interrupt_when(
    proc: subprocess.Popen[str], path: Path, ready: Callable[[list[dict[str, Any]]], bool]
) -> str:
    """Ctrl-C the run `proc` once its results file's cells are `ready` (within 120 s); its
    stderr, after it exited with 130."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        cells = json.loads(path.read_text())["cells"] if path.exists() else []
        if ready(cells):
            break
        time.sleep(0.1)
    else:
        stop(proc)
        pytest.fail("the run never got to where it was to be interrupted")
    os.kill(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    return stderr


def test_interrupt_keeps_finished_cells_and_leaves_nothing_running(
    oha: Path, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    marker = f"interrupt-{os.getpid()}-{time.time()}"  # tells this run's children from others
    proc = bench(
        "run",
        "--profile",
        "smoke",
        "--no-build",
        "--variants",
        "fastapi-tuned,fastapi-async",
        "--duration",
        "3s",
        "--repeats",
        "3",
        "--out",
        str(out),
        env={**os.environ, MARKER: marker},
    )
    path = out / "results.json"
    stderr = interrupt_when(  # round-robin: both cells have a repeat, then stop
        proc, path, lambda cells: len(cells) == 2 and all(c["repeats"] for c in cells)
    )
    assert "Traceback" not in stderr
    run = store.load(path)
    for cell in run.cells:  # what was measured is kept; the cells say they were cut short
        assert 1 <= len(cell.repeats) < 3 and not any(r.failure for r in cell.repeats)
        assert cell.error and cell.error.startswith("interrupted after"), cell.error
        assert [r.index for r in cell.repeats] == list(range(len(cell.repeats)))
    assert (out / "report.md").exists()
    deadline = time.monotonic() + 5
    while (left := leftovers(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left


def _ours(marker: str, *needles: str) -> psutil.Process | None:
    """A live process of the run tagged `marker` whose command line holds every needle."""
    return next((p for p, cmd in tagged(marker) if all(n in cmd for n in needles)), None)


def test_a_server_that_dies_fails_its_cell_and_the_run_goes_on(
    oha: Path, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    """fastapi-async is killed during its measured repeat; axum is still measured after it."""
    out = tmp_path / "run"
    marker = f"crash-{os.getpid()}-{time.time()}"
    proc = bench(
        "run", "--profile", "smoke", "--no-build", "--variants", "fastapi-async,axum",
        "--duration", "6s", "--out", str(out), env={**os.environ, MARKER: marker},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        server = _ours(marker, "variants/fastapi-async/bin/python", "-m uvicorn")
        if server and _ours(marker, "bin/oha", "-z 6s"):  # its measured repeat, not the warmup
            os.killpg(server.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    else:
        stop(proc)
        pytest.fail("the measured repeat of fastapi-async never started")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    crashed, survivor = store.load(out / "results.json").cells
    assert not crashed.ok and crashed.error and "fastapi-async exited" in crashed.error
    assert survivor.ok and survivor.repeats[0].load.ok > 0
    assert "failed: fastapi-async" in stdout
    expected = f"`fastapi-async` ({crashed.label}) failed: fastapi-async exited"
    assert expected in (out / "report.md").read_text()
    assert not leftovers(marker)


def run_json(*args: str, timeout: float = 300) -> str:
    """Run `python -m bench run ARGS` to the end; return its stdout (exit code 0 asserted)."""
    proc = bench("run", *args)
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr
    return stdout


SHARDED = ("--variants", "axum,fastapi-tuned", "--concurrency", "1,10", "--limit", "1,100",
           "--profile", "smoke", "--duration", "0.5s", "--warmup", "0", "--no-build")  # fmt: skip


def test_three_shards_merge_into_the_unsharded_plan_and_a_missing_one_is_named(
    oha: Path, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    listing = json.loads(run_json(*SHARDED, "--list-shards", "3"))
    assert [s["shard"] for s in listing] == ["1/3", "2/3", "3/3"]
    assert sum(s["cells"] for s in listing) == 8
    dry = run_json(*SHARDED, "--dry-run")
    planned = re.findall(r"^\s+\d+\s+([0-9a-f]{12})\s", dry, re.MULTILINE)
    assert len(planned) == 8 and "estimated" in dry.splitlines()[-1]
    shards = []
    for i in (1, 2, 3):
        shards.append(tmp_path / f"shard{i}")
        run_json(*SHARDED, "--shard", f"{i}/3", "--out", str(shards[-1]))
    measured = [c.id for s in shards for c in store.load(s / "results.json").cells]
    assert sorted(measured) == sorted(planned)
    proc = bench("report", *map(str, shards), "--out", str(tmp_path / "merged"))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    merged = store.load(tmp_path / "merged" / "results.json")
    assert [c.id for c in merged.cells] == planned and not merged.missing
    assert merged.plan.shard is None and merged.metadata.merged_from == [s.name for s in shards]
    proc = bench("report", str(shards[0]), str(shards[2]), "--out", str(tmp_path / "partial"))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "(shard 2/3 not given)" in stdout
    partial = store.load(tmp_path / "partial" / "results.json")
    assert partial.missing == store.load(shards[1] / "results.json").plan.shard.cells  # type: ignore[union-attr]
    assert "**Missing**" in (tmp_path / "partial" / "report.md").read_text()


def _cmdlines_and_environs() -> Iterator[bytes]:
    """What `ps` (argv) and /proc/PID/environ show of every live process."""
    for pid in psutil.pids():
        for part in ("cmdline", "environ"):
            try:
                yield Path(f"/proc/{pid}/{part}").read_bytes()
            except OSError:  # gone, or a kernel thread
                continue


def test_no_output_of_a_run_and_no_process_argv_holds_the_clusters_password(
    oha: Path, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    """The throwaway cluster's random password lives in its 0600 passfile alone: never in an
    argv or environment (ps), results.json, a log or the report."""
    out = tmp_path / "run"
    before = set(Path(tempfile.gettempdir()).glob("pybench-pg-*"))
    proc = bench("run", "--profile", "smoke", "--no-build", "--variants", "fastapi-sync,axum",
                 "--out", str(out))  # fmt: skip
    secret, seen, leaks = b"", 0, []
    try:
        while proc.poll() is None and not leaks:
            if not secret:
                found = [d / "pgpass" for d in Path(tempfile.gettempdir()).glob("pybench-pg-*")]
                found = [f for f in found if f.parent not in before and f.exists()]
                secret = found[0].read_bytes().strip().split(b":")[-1] if found else b""
            else:
                leaks = [text[:300] for text in _cmdlines_and_environs() if secret in text]
                seen += 1
            time.sleep(0.05)
    finally:
        stop(proc)
    assert not leaks, leaks
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert len(secret) >= 32 and seen > 20, (secret, seen)
    assert secret.decode() not in stdout + stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert (out / "results.json") in written and (out / "report.md") in written
    assert [p for p in written if secret in p.read_bytes()] == []


def one_line_usage_error(proc: subprocess.Popen[str]) -> str:
    """The one stderr line of a refused command (exit code 2 asserted)."""
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    (line,) = stderr.splitlines()
    return line
