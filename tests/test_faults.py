"""Faults during a run, end to end: an exception of any kind in a cell, the database killed
mid-run, a run that measured nothing, and `--resume` after an interrupt."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import MARKER, build_once, leftovers, stop, tagged
from test_bench_run import bench, interrupt_when, one_line_usage_error, run_json

from bench import REPO
from bench.model import store
from bench.plan.matrix import Variant
from bench.plan.order import round_order

pytestmark = pytest.mark.slow  # runs of `bench run` with built variants, Postgres and oha


@pytest.fixture(scope="module")
def two_python() -> list[Variant]:
    """The two Python variants the fault tests run (built once)."""
    return [build_once("fastapi-tuned"), build_once("fastapi-async")]


FOUR_CELLS = ("--profile", "smoke", "--no-build", "--variants", "fastapi-tuned,fastapi-async",
              "--concurrency", "1,10", "--warmup", "0", "--seed", "11")  # fmt: skip


def measured_order(*args: str) -> list[str]:
    """The cell ids of `run ARGS` (one round, seed 11) in the order they are measured."""
    return round_order(planned_ids(*args), 11, "closed", 0)


def planned_ids(*args: str) -> list[str]:
    """The cell ids `run --dry-run ARGS` lists, in plan order."""
    return re.findall(r"^\s+\d+\s+([0-9a-f]{12})\s", run_json(*args, "--dry-run"), re.MULTILINE)


@pytest.mark.parametrize("fail_fast", [False, True], ids=["goes-on", "fail-fast"])
def test_any_exception_in_a_cell_fails_that_cell_only_unless_fail_fast(
    oha: Path, two_python: list[Variant], tmp_path: Path, fail_fast: bool
) -> None:
    """An OSError (not the harness's own error type) in the second cell measured: the cell's
    server log folder is taken by a file. The run goes on, or stops there with --fail-fast."""
    args = (*FOUR_CELLS, "--duration", "1s")
    ids, order = planned_ids(*args), measured_order(*args)
    out = tmp_path / "run"
    (out / "cells").mkdir(parents=True)
    (out / "cells" / order[1]).write_text("a file where the cell's folder goes")
    proc = bench("run", *args, "--out", str(out), *(["--fail-fast"] if fail_fast else []))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    run = store.load(out / "results.json")
    assert [c.id for c in run.cells] == ids
    first, broken, *rest = sorted(run.cells, key=lambda c: order.index(c.id))
    assert first.ok, first.error
    assert broken.error and broken.error.startswith("FileExistsError: [Errno 17] File exists:")
    if fail_fast:
        assert stderr.splitlines()[-1].startswith(
            "bench: stopped at the first failed cell (--fail-fast): "
            f"{broken.variant} {broken.label}"
        ), stderr
        assert all(c.error == "stopped after 0 of 1 repeats" and not c.repeats for c in rest)
        assert any(n.startswith("the run stopped early: stopped at") for n in run.metadata.notes)
    else:
        assert all(c.ok for c in rest), [c.error for c in rest]
        assert f"failed: {broken.variant} {broken.label}: FileExistsError" in stdout
    assert (out / "report.md").exists()


def _postmaster(marker: str) -> psutil.Process:
    """The run's postmaster (its backends are postgres processes too, without -D)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = next((p for p, cmd in tagged(marker) if "postgres -D " in cmd), None)
        if found:
            return found
        time.sleep(0.1)
    pytest.fail("no postmaster found for the run")


def _measuring(marker: str, proc: subprocess.Popen[str]) -> None:
    """Wait until a cell's measured oha runs (not a ceiling's, which loads /users/static)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any("bin/oha" in cmd and "-z 3s" in cmd and "static" not in cmd
               for _, cmd in tagged(marker)):  # fmt: skip
            return
        time.sleep(0.1)
    stop(proc)
    pytest.fail("no cell's measured repeat started")


def test_a_dead_database_is_restarted_once_then_the_run_stops(
    oha: Path, two_python: list[Variant], tmp_path: Path
) -> None:
    """The postmaster is killed during the first cell: it is restarted and the second cell is
    measured. Killed again during the third, the run stops before the fourth, in one line."""
    order = measured_order(*FOUR_CELLS)
    out = tmp_path / "run"
    marker = f"dbkill-{os.getpid()}-{time.time()}"
    proc = bench("run", *FOUR_CELLS, "--duration", "3s", "--out", str(out),
                 env={**os.environ, MARKER: marker})  # fmt: skip
    _measuring(marker, proc)
    first = _postmaster(marker)
    first.kill()
    path = out / "results.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # the second cell, measured
        cells = {c["id"]: c for c in json.loads(path.read_text())["cells"]}
        if cells[order[1]]["repeats"] or cells[order[1]]["error"]:
            break
        time.sleep(0.2)
    _measuring(marker, proc)  # the third cell
    second = _postmaster(marker)
    assert second.pid != first.pid
    second.kill()
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    run = store.load(path)
    killed, measured, killed_again, never = sorted(run.cells, key=lambda c: order.index(c.id))
    assert re.fullmatch(
        r"bench: the embedded database at postgresql://\S+ died a second time, before "
        + re.escape(f"{never.variant} {never.label}: the run stops here"),
        stderr.splitlines()[-1],
    ), stderr
    assert not killed.ok and not killed_again.ok  # their database went away under them
    assert measured.ok and measured.repeats[0].load.ok > 0, measured.error
    assert never.error == "stopped after 0 of 1 repeats" and not never.repeats
    (note,) = [n for n in run.metadata.notes if "restarted" in n]
    assert f"before {measured.variant} {measured.label}" in note
    assert "report.md" in stdout and (out / "report.md").exists()
    assert not leftovers(marker)


def test_a_run_that_measured_nothing_writes_no_report_and_keeps_latest(
    oha: Path, two_python: list[Variant]
) -> None:
    """Its only cell fails (its folder is taken by a file): results.json says why, no report
    is drawn and reports/latest, although the run is under reports/, does not move."""
    args = ("--profile", "smoke", "--no-build", "--variants", "fastapi-async", "--duration", "1s")
    (cell_id,) = planned_ids(*args)
    out = REPO / "reports" / "runs" / f"test-nothing-{os.getpid()}"
    latest = REPO / "reports" / "latest"
    before = os.readlink(latest) if latest.is_symlink() else None
    try:
        (out / "cells").mkdir(parents=True)
        (out / "cells" / cell_id).write_text("a file where the cell's folder goes")
        proc = bench("run", *args, "--out", str(out))
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 1, stderr
        assert f"nothing was measured: no report; {out / 'results.json'} says why" in stdout
        assert not (out / "report.md").exists()
        assert (os.readlink(latest) if latest.is_symlink() else None) == before
        (cell,) = store.load(out / "results.json").cells
        assert cell.error and cell.error.startswith("FileExistsError")
    finally:
        shutil.rmtree(out, ignore_errors=True)


RESUMED = ("--profile", "smoke", "--no-build", "--variants", "fastapi-tuned,fastapi-async",
           "--duration", "1s", "--warmup", "0", "--repeats", "2", "--seed", "5")  # fmt: skip


def test_resume_after_an_interrupt_ends_as_an_uninterrupted_run(
    oha: Path, two_python: list[Variant], tmp_path: Path
) -> None:
    """SIGINT once the first cell has a repeat; --resume keeps that repeat, measures the rest,
    and gives the cells (ids, in plan order) and the plan of a run never interrupted. A run
    whose commit or machine differs, or other plan options, are refused in one line."""
    out = tmp_path / "run"
    proc = bench("run", *RESUMED, "--out", str(out))
    path = out / "results.json"
    interrupt_when(proc, path, lambda cells: bool(cells and cells[0]["repeats"]))
    interrupted = store.load(path)
    kept, left = interrupted.cells[0].repeats[0], sum(2 - len(c.repeats) for c in interrupted.cells)
    assert interrupted.cells[0].error == "interrupted after 1 of 2 repeats"

    refused = {
        "commit": (["metadata", "git", "commit"], "0" * 40, "commit 000000000000 then"),
        "machine": (["metadata", "cpu", "model"], "Z80", "CPU model 'Z80' then"),
    }
    for name, (keys, value, says) in refused.items():
        copy = tmp_path / name
        shutil.copytree(out, copy)
        data = json.loads((copy / "results.json").read_text())
        data[keys[0]][keys[1]][keys[2]] = value
        (copy / "results.json").write_text(json.dumps(data))
        before = (copy / "results.json").read_text()
        line = one_line_usage_error(bench("run", "--resume", str(copy)))
        assert line.startswith(f"bench: error: --resume {copy}: ") and says in line, line
        assert (copy / "results.json").read_text() == before
    line = one_line_usage_error(bench("run", "--resume", str(out), "--repeats", "3"))
    assert "drop --repeats" in line

    proc = bench("run", "--resume", str(out), "--no-build")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"resuming {out}: {left} repeats left" in stdout
    resumed = store.load(path)
    whole = tmp_path / "whole"
    run_json(*RESUMED, "--out", str(whole))
    uninterrupted = store.load(whole / "results.json")
    assert [c.id for c in resumed.cells] == [c.id for c in uninterrupted.cells]
    assert resumed.plan == uninterrupted.plan and resumed.plan.seed == 5
    for cell in resumed.cells:
        assert cell.ok and [r.index for r in cell.repeats] == [0, 1], cell.error
    assert resumed.cells[0].repeats[0] == kept  # measured before the interrupt, kept
    assert [p.name for p in resumed.probes] == ["database", "http"]
    assert any(n.startswith("resumed at ") for n in resumed.metadata.notes)
    assert "report.md" in stdout and (out / "report.md").exists()
