"""The indexes of reports/: every run present, a broken one named, the committed one current."""

import shutil
import statistics
import subprocess
from pathlib import Path

import pytest
from test_merge import sharded

from bench import REPO
from bench.cli import exports, main, soak
from bench.model import store
from bench.model.plan import CellSpec, Measure, Plan
from bench.model.results import Run, Soak
from bench.paths import REPORTS
from bench.render import index

DATA = Path(__file__).parent / "data"


def test_every_run_is_a_row_and_a_broken_one_says_why(tmp_path: Path) -> None:
    for name, source in (("a-run", "results-v2.json"), ("old-run", "results-v1.json")):
        (tmp_path / "published" / name).mkdir(parents=True)
        shutil.copy(DATA / source, tmp_path / "published" / name / "results.json")
    (tmp_path / "published" / "broken").mkdir()
    (tmp_path / "published" / "broken" / "results.json").write_text('{"schema_version": 7}')
    written = index.write_indexes(tmp_path)
    assert written == [tmp_path / "README.md"]  # no runs/ folder: no local index
    text = written[0].read_text()
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    assert [r.split("]")[0] for r in rows] == ["| [a-run", "| [broken", "| [old-run"]
    assert "(published/a-run/report.md)" in rows[0]
    run = store.load(DATA / "results-v2.json")
    assert run.profile in rows[0] and str(run.metadata.cpu.model) in rows[0]
    assert "unreadable:" in rows[1] and "results schema 7, newer" in rows[1]


def test_a_machine_that_could_not_be_read_says_so() -> None:
    run = store.load(DATA / "results-v2.json")
    run.metadata.cpu.model, run.metadata.cpu.logical = None, None
    assert "unknown CPU, ? CPUs" in " ".join(index._row(run))


def test_local_runs_get_their_own_index(tmp_path: Path) -> None:
    (tmp_path / "published").mkdir()
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    shutil.copy(DATA / "results-v2-ceilings.json", tmp_path / "runs" / "r1" / "results.json")
    written = index.write_indexes(tmp_path)
    assert written == [tmp_path / "README.md", tmp_path / "runs" / "README.md"]
    local = written[1].read_text()
    assert "[r1](r1/report.md)" in local
    run = store.load(DATA / "results-v2-ceilings.json")
    for cell in run.cells:  # one closed cell per variant: its median is the headline
        assert f"{cell.variant} {statistics.median(r.load.rps for r in cell.repeats):.0f}" in local
    assert "No runs yet." in written[0].read_text()


def test_the_committed_index_is_current() -> None:
    """The index as committed, not as a run or test may have rewritten it since: a stale one
    fails here whatever ran before."""
    committed = subprocess.run(
        ["git", "show", "HEAD:reports/README.md"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    expected = index.render(REPORTS / "published", REPORTS, index.REFERENCES)
    assert committed == expected, "run `nox -s report` and commit reports/README.md"


def soak_run() -> Run:
    """The stored smoke run's first cell as a soak: a steady climb of 0.1 MiB a second."""
    run = store.load(DATA / "results-v2-ceilings.json")
    cell = run.cells[0]
    one = CellSpec(variant=cell.variant, params=cell.params)
    run.plan = Plan(
        profile="smoke", measure=Measure(duration_s=15, warmup_s=3), sweeps=[], cells=[one]
    )
    run.cells, run.probes = [], []
    run.soak = Soak(
        variant=cell.variant, params=cell.params, duration_s=15, warmup_s=3, burst_s=1.5,
        pause_s=0.6, time_s=[float(t) for t in range(15)], rss_mib=[50 + t / 10 for t in range(15)],
    )  # fmt: skip
    return run


def render_outside(how: str, tmp_path: Path) -> Path:
    """Render a run folder under `tmp_path` the way `how` does; return the report written."""
    if how == "report":  # python -m bench report RUN
        (tmp_path / "run").mkdir()
        shutil.copy(DATA / "results-v2-ceilings.json", tmp_path / "run" / "results.json")
        assert main(["report", str(tmp_path / "run")]) == 0
        return tmp_path / "run" / "report.md"
    if how == "merge":  # python -m bench report SHARD... --out DIR (two shards of eight)
        runs = sharded(8)[:2]  # their plots take several seconds: slow
        for run in runs:
            (tmp_path / run.run_id).mkdir()
            store.save(run, tmp_path / run.run_id / "results.json")
        out = tmp_path / "merged"
        assert main(["report", *(str(tmp_path / r.run_id) for r in runs), "--out", str(out)]) == 1
        return out / "report.md"
    (tmp_path / "soak").mkdir()  # the end of run --soak
    store.save(soak_run(), tmp_path / "soak" / "results.json")
    return soak.finish(tmp_path / "soak")


@pytest.mark.parametrize("how", ["report", pytest.param("merge", marks=pytest.mark.slow), "soak"])
def test_a_run_rendered_outside_reports_leaves_its_indexes_alone(how: str, tmp_path: Path) -> None:
    indexes = [REPORTS / "README.md", REPORTS / "runs" / "README.md"]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) if p.exists() else None for p in indexes]
    report = render_outside(how, tmp_path)
    assert report.is_file() and report.read_text().startswith("# ")
    after = [(p.read_bytes(), p.stat().st_mtime_ns) if p.exists() else None for p in indexes]
    assert after == before, "a run outside reports/ rewrote an index of reports/"


def test_a_run_kept_under_reports_updates_its_index(tmp_path: Path) -> None:
    """The same step with reports/ at `tmp_path / "reports"`: a run folder under it is added
    to its index."""
    reports = tmp_path / "reports"
    (reports / "published").mkdir(parents=True)
    kept = reports / "runs" / "r1"
    kept.mkdir(parents=True)
    shutil.copy(DATA / "results-v2-ceilings.json", kept / "results.json")
    assert exports.write(kept, reports) == kept / "report.md"
    assert "[r1](r1/report.md)" in (reports / "runs" / "README.md").read_text()
    assert "No runs yet." in (reports / "README.md").read_text()
