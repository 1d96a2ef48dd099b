"""The published figures as data: they load, name real variants, agree with the human
tables of reports/published/README.md, and give the ratios the source itself states."""

import re

import pytest

from bench.model import published
from bench.plan.matrix import load_variants

RUNS = published.load()
README = published.PUBLISHED.with_name("README.md").read_text()
LABELS = {"throughput rps": "rps", "p50 ms": "p50_ms", "p99 ms": "p99_ms", "p99.9 ms": "p999_ms",
          "peak memory MiB": "memory_mib", "peak CPU %": "cpu_pct"}  # fmt: skip
COLUMNS = {"FastAPI (sync)": "fastapi", "FastAPI async": "fastapi-async", "Axum": "axum"}


def readme_table(heading: str) -> dict[str, dict[str, float]]:
    """The table after `heading` in the README: row name -> figure -> value."""
    section = README.split(heading, 1)[1]
    lines = [ln for ln in section.split("\n\n", 2)[1].splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    table: dict[str, dict[str, float]] = {}
    for line in lines[2:]:
        label, *cells = (c.strip() for c in line.strip("|").split("|"))
        for column, cell in zip(header[1:], cells, strict=True):
            table.setdefault(COLUMNS[column], {})[LABELS[label]] = float(cell)
    return table


def test_every_row_names_variants_that_exist_and_has_a_source() -> None:
    known = load_variants()
    assert {"blog", "repository", "repository-16-workers"} <= set(RUNS)
    for run in RUNS.values():
        assert run.source and run.machine and run.command
        for row in run.rows.values():
            assert set(row.variants) <= set(known), row.variants
            assert set(row.approximate) <= set(published.FIGURES)
            assert all(getattr(row, f) is None or getattr(row, f) > 0 for f in published.FIGURES)


@pytest.mark.parametrize(
    ("run", "heading"), [("blog", "Original blog run"), ("repository", "Updated repository run")]
)
def test_the_data_agrees_with_the_human_readable_tables(run: str, heading: str) -> None:
    table = readme_table(heading)
    assert set(table) == set(RUNS[run].rows)
    for row, figures in table.items():
        for figure, value in figures.items():
            assert getattr(RUNS[run].rows[row], figure) == value, (run, row, figure)


def test_ratios_are_those_the_source_states() -> None:
    """The repository's README states 3.70 times (async) and 25.1 times (Axum) sync FastAPI."""
    repo = RUNS["repository"]
    assert round(repo.ratio("rps", "fastapi-async", "fastapi") or 0, 2) == 3.70
    assert round(repo.ratio("rps", "axum", "fastapi") or 0, 1) == 25.1
    assert repo.ratio("p999_ms", "axum", "fastapi") == pytest.approx(1.0 / 33.4)
    assert RUNS["blog"].ratio("p999_ms", "axum", "fastapi") is None  # the blog has no p99.9
    assert re.search(r"Requests/sec 611\.8453", repo.source)
