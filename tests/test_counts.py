"""Counted runs (`run --count`): the verdicts on stored counts, the refusal without valgrind,
and the counted path against a real valgrind and a real server."""

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from bench import REPO
from bench.analysis import counts
from bench.cli import main
from bench.load import valgrind
from bench.model.counts import Count, Counted
from bench.model.plan import Baseline, Measure, Params, Plan
from bench.model.results import Run
from bench.model.store import load, save
from bench.render import counts as render
from bench.render.markdown import TIMES
from bench.render.page import Page
from bench.run.counted import Settings


class Result(NamedTuple):
    code: int
    stdout: str
    stderr: str


ENV = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
PARAMS = Params(runtime=None, workers=None, pool=5, concurrency=1, keepalive=False, limit=100)
# Lives measured on this VM (2026-12-05, docs/measurements.md): instructions per request.
AXUM = [737_362.1, 747_866.32, 757_321.0, 752_728.0, 749_891.0, 758_625.0]
ASYNC = [3_550_573.0, 3_535_712.6, 3_533_331.8, 3_531_185.1, 3_540_920.1, 3_543_504.1]


def counted(variant: str, lives: list[float], error: str | None = None) -> Counted:
    return Counted(
        variant=variant,
        params=PARAMS,
        valgrind="valgrind-3.19.0",
        warmup_requests=100,
        lives=[Count(instructions=round(v * 200), requests=200) for v in lives],
        error=error,
    )


def ab_run(*cells: Counted, threshold: float | None = None) -> Run:
    plan = Plan(
        profile="default",
        measure=Measure(requests=200, repeats=3),
        sweeps=[],
        cells=[],
        baseline=Baseline(rev="HEAD", commit="0" * 40),
    )
    run = Run(run_id="t", plan=plan, metadata={}, counts=list(cells))
    run.count_threshold_pct = threshold
    return run


def test_identical_code_is_no_change_and_two_percent_more_is_flagged() -> None:
    run = ab_run(
        counted("axum", AXUM[:3]),
        counted("axum@baseline", AXUM[3:]),
        counted("fastapi-async", [v * 1.02 for v in ASYNC[:3]]),
        counted("fastapi-async@baseline", ASYNC[3:]),
    )
    axum, fastapi = counts.pairs(run)
    assert axum.direction == "same" and not axum.flagged
    assert 0.99 < (axum.ratio or 0) < 1.01
    assert fastapi.direction == "rose"
    head, base = (statistics.geometric_mean(lives) for lives in (ASYNC[:3], ASYNC[3:]))
    assert fastapi.ratio == pytest.approx(1.02 * head / base, rel=1e-9)
    assert fastapi.detectable is not None and 1 < fastapi.detectable < 1.02
    assert [p.variant for p in counts.regressions([axum, fastapi])] == ["fastapi-async"]


def numbered(variant: str, lives: list[float], cpus: list[str]) -> Counted:
    """A counted side whose lives are numbered from 1, each on the given CPUs."""
    cell = counted(variant, lives)
    cell.lives = [
        c.model_copy(update={"life": k, "cpus": cpu})
        for k, (c, cpu) in enumerate(zip(cell.lives, cpus, strict=True), 1)
    ]
    return cell


def test_lanes_met_alike_by_both_sides_cancel_in_the_ratio() -> None:
    """Lives as Axum's in identical-code runs: two levels about 1.5% apart. Run in pairs, both
    sides meet each lane as often: identical code reads as no change, and 2% more in every
    head life is flagged; a head that met only the high lane and a baseline only the low one
    (as unpaired lanes could) would read as a change of identical code."""
    cpus = ["0", "1"] * 6
    lane = {"0": 748_000.0, "1": 759_000.0}
    wobble = [1.0, 1.001, 0.999, 1.0005, 0.9995, 1.0]  # within a lane, identical code
    base = [lane[c] * wobble[k % 6] for k, c in enumerate(cpus)]
    head = [lane[c] * wobble[(k + 3) % 6] for k, c in enumerate(cpus)]
    run = ab_run(numbered("axum", head, cpus), numbered("axum@baseline", base, cpus))
    (same,) = counts.pairs(run)
    assert same.direction == "same" and abs((same.ratio or 0) - 1) < 0.001
    more = [v * 1.02 for v in head]
    (rose,) = counts.pairs(
        ab_run(numbered("axum", more, cpus), numbered("axum@baseline", base, cpus))
    )
    assert rose.direction == "rose" and rose.ratio == pytest.approx(1.02, abs=0.001)
    high, low = ["1"] * 12, ["0"] * 12
    apart = ab_run(
        numbered("axum", [lane["1"] * w for w in wobble * 2], high),
        numbered("axum@baseline", [lane["0"] * w for w in wobble * 2], low),
    )
    assert counts.pairs(apart)[0].direction == "rose"


def test_the_default_threshold_is_the_detectable_change_and_a_given_one_replaces_it() -> None:
    cells = (counted("axum", [v * 1.02 for v in AXUM[:3]]), counted("axum@baseline", AXUM[3:]))
    (own,) = counts.pairs(ab_run(*cells))
    assert own.threshold == pytest.approx(max((own.detectable or 0) - 1, counts.MIN_THRESHOLD))
    (given,) = counts.pairs(ab_run(*cells, threshold=5.0))
    assert given.threshold == 0.05 and given.direction == "same"
    (lower,) = counts.pairs(ab_run(*cells), threshold_pct=0.1)
    assert lower.threshold == 0.001


def test_a_fall_is_flagged_as_a_fall_and_a_failed_side_cannot_tell() -> None:
    fell = ab_run(counted("axum", [v * 0.95 for v in AXUM[:3]]), counted("axum@baseline", AXUM[3:]))
    assert counts.pairs(fell)[0].direction == "fell"
    assert counts.regressions(counts.pairs(fell)) == []
    failed = ab_run(counted("axum", AXUM[:3]), counted("axum@baseline", [], error="vgdb: died"))
    (pair,) = counts.pairs(failed)
    assert pair.direction == "unknown" and pair.ratio is None
    assert "vgdb: died" in render.judged(pair)


def test_the_table_shows_four_decimals_beside_the_verdict_and_the_detectable_change() -> None:
    run = ab_run(
        counted("fastapi-async", [v * 1.0023 for v in ASYNC[:3]]),
        counted("fastapi-async@baseline", ASYNC[3:]),
    )
    text = render.section(Page(run))
    (row,) = [line for line in text.splitlines() if line.startswith("| fastapi-async |")]
    ratio = counts.pairs(run)[0].ratio or 0
    assert f"{TIMES}{ratio:.4f} | no change beyond the threshold" in row
    assert "server instructions per request" in text and "smallest detectable change" in text


def test_count_without_valgrind_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "uv"):  # everything a run needs before it counts, but valgrind
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    env = {**ENV, "PATH": f"{Path(sys.executable).parent}:{bin_dir}"}
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--count", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "bench: error: valgrind is not installed: apt-get install valgrind (Debian/Ubuntu), "
        "or put it on PATH"
    ]
    assert not out.exists()


@pytest.mark.slow
def test_a_counted_run_counts_a_real_server_under_valgrind(tmp_path: Path) -> None:
    """axum under callgrind: lives of 50 counted requests each, as many as its first life's
    wall time fits in the budget (more than three where a life is cheap), within 3% of each
    other, named by its own Rust functions, with valgrind's version and command recorded and
    the column in the report; without the host check, as its cell says and its /health read
    back in each life."""
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--count", "--variants", "axum",
         "--requests", "50", "--host-check", "off", "--out", str(out)],
        env=ENV, capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = load(out / "results.json")
    (cell,) = run.counts
    assert cell.error is None and len(cell.lives) == Settings().lives_for(cell.lives[0].wall_s)
    assert cell.command[:3] == [shutil.which("valgrind"), "--tool=callgrind", "--instr-atstart=no"]
    version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout
    assert cell.valgrind == version.strip() == run.metadata.tools["valgrind"]
    first, *others = (life.per_request for life in cell.lives)
    assert 100_000 < first < 10_000_000 and all(abs(first / o - 1) < 0.03 for o in others)
    assert all(life.requests == 50 for life in cell.lives)
    own = [k for k in cell.lives[0].functions if k.endswith("(bench-axum)")]
    assert own and not [k for k in own if k.startswith("0x")]  # named: the wheel keeps symbols
    assert any("bench_axum::" in k for k in own)  # its own functions among them
    assert cell.params.host_check is False and cell.reported["host_check"] is False
    assert cell.reported["server"] == "axum" and cell.reported["pool"] == 5
    report = (out / "report.md").read_text()
    assert "server instructions per request" in report
    assert "| host check (/health) |" in report and f"| {len(cell.lives)} | off |" in report
    saved = json.loads((out / "results.json").read_text())
    assert saved["counts"][0]["lives"][0]["per_request"] == pytest.approx(first)


def test_a_counted_run_is_not_resumed_as_a_timed_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume of a counted run refuses in one line, exit 2, and writes nothing."""
    run = counted_run("counted", counted("axum", AXUM), flags=["avx2"], valgrind="v")
    (tmp_path / "counted").mkdir()
    save(run, tmp_path / "counted" / "results.json")
    before = sorted(tmp_path.rglob("*"))
    assert main(["run", "--resume", str(tmp_path / "counted")]) == 2
    _, err = capsys.readouterr()
    assert "a counted run" in err and "--count" in err and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_function_names_keep_rust_paths_and_fold_recursion(tmp_path: Path) -> None:
    """callgrind_annotate's "file:function" read back: the file dropped, Rust's "::" paths
    kept, recursion levels ('2) summed into their function, the object by its file name."""
    dump = tmp_path / "callgrind.out.1.1"
    dump.write_text(
        "version: 1\ncreator: test\npid: 1\ncmd: x\npart: 1\n\npositions: line\nevents: Ir\n\n"
        "ob=/x/bench-axum\nfl=???\nfn=tokio::runtime::park::Inner::park\n0 500\n"
        "fn=<bench_axum::User as FromRow<R>>::from_row'2\n0 100\n"
        "fn=<bench_axum::User as FromRow<R>>::from_row\n0 50\n"
        "ob=/usr/lib/libc.so.6\nfl=./malloc/malloc.c\nfn=_int_malloc\n0 300\n\ntotals: 950\n"
    )
    found = valgrind.functions(Path(shutil.which("valgrind") or "valgrind"), dump)
    assert found == {
        "tokio::runtime::park::Inner::park (bench-axum)": 500,
        "_int_malloc (libc.so.6)": 300,
        "<bench_axum::User as FromRow<R>>::from_row (bench-axum)": 150,
    }


def test_a_cheap_variant_gets_more_lives_within_the_budget_and_repeats_is_exact() -> None:
    """Lives from the first life's wall time: three at least, twelve at most; none beyond
    what --repeats asks for."""
    budgeted = Settings()
    assert budgeted.lives_for(2.4) == 12 and budgeted.lives_for(7.0) == 4
    assert budgeted.lives_for(10.0) == budgeted.lives_for(300.0) == 3
    assert budgeted.lives_for(0.1) == 12 and budgeted.lives_for(None) == 3
    assert Settings(lives=2, budget_s=None).lives_for(0.5) == 2


def counted_run(
    run_id: str, *cells: Counted, flags: list[str], valgrind: str, postgres: str = "18.1"
) -> Run:
    plan = Plan(profile="default", measure=Measure(requests=200, repeats=3), sweeps=[], cells=[])
    metadata = {
        "cpu": {"flags": flags},
        "host": {"libc": "glibc 2.36", "python": "3.11.7"},
        "tools": {"valgrind": valgrind, "rustc": "rustc 1.91.0", "postgres": postgres},
    }
    return Run(run_id=run_id, plan=plan, metadata=metadata, counts=list(cells))


def compare(tmp_path: Path, a: Run, b: Run, capsys: pytest.CaptureFixture[str]) -> Result:
    """`python -m bench compare A B` in this process (its exit code and output)."""
    for run in (a, b):
        (tmp_path / run.run_id).mkdir()
        save(run, tmp_path / run.run_id / "results.json")
    code = main(["compare", str(tmp_path / a.run_id), str(tmp_path / b.run_id)])
    out, err = capsys.readouterr()
    return Result(code, out, err)


def test_compare_of_two_counted_runs_flags_only_the_variant_that_rose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["avx2", "sse4_2"]
    a = counted_run("a", counted("axum", AXUM[:3]), counted("fastapi-async", ASYNC[:3]),
                    flags=flags, valgrind="valgrind-3.19.0")  # fmt: skip
    b = counted_run("b", counted("axum", AXUM[3:]),
                    counted("fastapi-async", [v * 1.03 for v in ASYNC[3:]]),
                    flags=flags, valgrind="valgrind-3.19.0")  # fmt: skip
    result = compare(tmp_path, a, b, capsys)
    assert result.code == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"regression: fastapi-async: server instructions per request "
        f"{TIMES}{counts.across(a, b)[1].ratio:.4f}"
    ]
    assert "server instructions per request (B)" in result.stdout


@pytest.mark.parametrize(
    ("flags", "valgrind", "postgres", "says"),
    [
        (["avx2"], "valgrind-3.19.0", "18.1", "CPU flags differ (sse4_2)"),
        (["avx2", "sse4_2"], "valgrind-3.22.0", "18.1", "valgrind differ (valgrind-3.19.0 and "),
        (["avx2", "sse4_2"], "valgrind-3.19.0", "15.14", "Postgres differ (18.1 and 15.14)"),
    ],
    ids=["flags", "valgrind", "postgres"],
)
def test_compare_refuses_counts_of_other_flags_or_versions(
    tmp_path: Path,
    flags: list[str],
    valgrind: str,
    postgres: str,
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = counted_run("a", counted("axum", AXUM[:3]), flags=["avx2", "sse4_2"],
                    valgrind="valgrind-3.19.0")  # fmt: skip
    b = counted_run("b", counted("axum", AXUM[3:]), flags=flags, valgrind=valgrind,
                    postgres=postgres)  # fmt: skip
    result = compare(tmp_path, a, b, capsys)
    assert result.code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("bench: error: the counts of these runs cannot be compared: ")
    assert says in line and not result.stdout


def test_the_functions_that_moved_most_come_first_per_request() -> None:
    def life(functions: dict[str, int]) -> Count:
        return Count(instructions=10**9, requests=100, functions=functions)

    head = counted("fastapi-async", [])
    base = counted("fastapi-async@baseline", [])
    head.lives = [life({"a (x.so)": 500_000, "b (x.so)": 900_000}), life({"a (x.so)": 700_000})]
    base.lives = [life({"a (x.so)": 600_000, "b (x.so)": 100_000, "c (y.so)": 400_000})]
    found = counts.moved(head, base, top=2)
    assert [(m.function, m.head, m.baseline) for m in found] == [
        ("c (y.so)", 0.0, 4_000.0),  # -4000 per request
        ("b (x.so)", 4_500.0, 1_000.0),  # (9000 + 0) / 2 lives: +3500; a: 6000 both sides
    ]
    run = ab_run(head, base)
    assert "fastapi-async: the 10 functions that moved most" in render.section(Page(run))
