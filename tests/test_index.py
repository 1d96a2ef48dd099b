"""The indexes of reports/: every run present, a broken one named, the committed one current."""

import shutil
import statistics
from pathlib import Path

from bench.model import store
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
    assert run.profile in rows[0] and str(run.metadata.cpu["model"]) in rows[0]
    assert "unreadable:" in rows[1] and "schema_version 7" in rows[1]


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
    reports = index.REPORTS
    expected = index.render(reports / "published", reports, index.REFERENCES)
    assert (reports / "README.md").read_text() == expected, "run `nox -s report` and commit"
