"""The machine canary: real timings on each CPU, steal time from /proc/stat, and the drift
flag on a stored run."""

import os
from pathlib import Path

from bench.analysis import canary as drift
from bench.load import canary
from bench.model import store
from bench.model.results import Canary, CanaryReading, Run
from bench.render import canary as section
from bench.render.page import Page

DATA = Path(__file__).parent / "data"


def test_the_canary_times_the_workload_on_every_cpu_asked() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    reading = canary.read(cpus)
    assert os.sched_getaffinity(0) == before  # the thread's own affinity is given back
    assert sorted(reading.ms) == [str(c) for c in cpus] == sorted(reading.steal_s)
    assert all(0.1 < ms < 10_000 for ms in reading.ms.values()), reading.ms
    assert all(s >= 0 for s in reading.steal_s.values())


def test_steal_time_is_the_eighth_value_of_each_cpu_line(tmp_path: Path) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    stat.write_text(
        f"cpu  10 0 10 100 0 0 0 {3 * tick} 0 0\n"
        f"cpu0 5 0 5 50 0 0 0 {tick} 0 0\n"
        f"cpu1 5 0 5 50 0 0 0 {2 * tick} 0 0\n"
        "intr 12345\n"
    )
    assert canary.steal_s(stat) == {0: 1.0, 1: 2.0}


def _canaried(slow: float) -> Run:
    """The stored run, every repeat read at 10 ms on CPU 0 and 20 ms on CPU 1, but the last
    repeat of the second cell `slow` times slower on CPU 0 after it; steal grows 0.5 s a read."""
    run = store.load(DATA / "results-v2.json")
    steal = 0.0
    for cell in run.cells:
        for repeat in cell.repeats:
            readings = []
            for _ in range(2):
                steal += 0.5
                readings.append(CanaryReading(ms={"0": 10.0, "1": 20.0}, steal_s={"0": steal}))
            repeat.canary = Canary(before=readings[0], after=readings[1])
    last = run.cells[1].repeats[-1]
    assert last.canary is not None
    last.canary.after.ms["0"] = 10.0 * slow
    return run


def test_a_repeat_whose_canary_strayed_is_flagged_and_reported() -> None:
    run = _canaried(slow=1.3)
    readings = 2 * sum(len(c.repeats) for c in run.cells)
    speeds = {s.cpu: s for s in drift.speeds(run)}
    assert speeds["0"].readings == readings and speeds["0"].median_ms == 10.0
    assert speeds["0"].slowest_ms == 13.0 and round(speeds["0"].moved, 6) == 0.3
    assert speeds["0"].steal_s == 0.5 * (readings - 1) and speeds["1"].moved == 0
    (flag,) = drift.flags(run)
    assert (flag.cell, flag.repeat, flag.cpu) == (run.cells[1], run.cells[1].repeats[-1], "0")
    assert round(flag.off, 6) == 0.3
    text = section.section(Page(run))
    assert "## Machine canary" in text and "**1 repeats**" in text
    assert f"{run.cells[1].variant} {run.cells[1].label}, repeat" in text
    assert "30% slower than its median" in text


def test_a_steady_machine_flags_nothing_and_old_runs_have_no_section() -> None:
    assert drift.flags(_canaried(slow=1.05)) == []
    assert "No repeat's canary strayed" in section.section(Page(_canaried(slow=1.05)))
    assert section.section(Page(store.load(DATA / "results-v2.json"))) == ""
