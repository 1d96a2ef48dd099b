"""The report's head: the plot of throughput and p99 per variant and the sentence stating the
run's main finding, from stored real results files. Expected values are worked out here from
the stored repeats (scipy's Welch test, medians), not read from the code under test."""

import re
import statistics
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from bench.analysis.headline import headline, log_axis
from bench.model import store
from bench.model.results import Run
from bench.render import headline as head
from bench.render import report
from bench.render.markdown import TIMES

DATA = Path(__file__).parent / "data"


@pytest.fixture
def v1() -> Run:
    """A real default-profile run: five variants, three repeats each, one shape."""
    return store.load(DATA / "results-v1.json")


def rps(run: Run, variant: str) -> list[float]:
    (cell,) = [c for c in run.cells if c.variant == variant and c.params.mode == "closed"]
    return [r.load.rps for r in cell.repeats]


def test_the_finding_is_the_fastest_variant_against_the_reference(v1: Run) -> None:
    medians = {c.variant: statistics.median(rps(v1, c.variant)) for c in v1.cells if c.ok}
    fastest = max(medians, key=medians.__getitem__)
    found = headline(v1, "fastapi-sync")
    assert found is not None and found.finding is not None
    assert [p.variant for p in found.points] == [c.variant for c in v1.cells if c.ok]
    finding = found.finding
    assert (finding.best.variant, finding.against.variant) == (fastest, "fastapi-sync")
    assert finding.ratio == pytest.approx(medians[fastest] / medians["fastapi-sync"])
    p = scipy_stats.ttest_ind(rps(v1, "fastapi-sync"), rps(v1, fastest), equal_var=False).pvalue
    assert finding.verdict.p == pytest.approx(p)
    sentence = head.section(report.Page(v1)).split("\n\n")[0]
    assert sentence.startswith(f"**{fastest} served {TIMES}{finding.ratio:.3g} the throughput")
    assert f"of fastapi-sync ({medians[fastest]:.0f} against" in sentence
    assert f"significant: faster (p={p:.2g})" in sentence and sentence.endswith(".**")


def test_a_reference_that_is_the_fastest_is_compared_with_the_runner_up(v1: Run) -> None:
    found = headline(v1, "axum")
    assert found is not None and found.finding is not None
    medians = sorted((statistics.median(rps(v1, p.variant)), p.variant) for p in found.points)
    assert found.finding.best.variant == medians[-1][1] == "axum"
    assert found.finding.against.variant == medians[-2][1]


def test_one_variant_is_stated_without_a_verdict(v1: Run) -> None:
    axum = [c for c in v1.cells if c.variant == "axum"]
    plan = v1.plan.model_copy(update={"cells": axum})
    one = v1.model_copy(update={"cells": axum, "plan": plan})
    text = head.section(report.Page(one))
    assert text.startswith(f"**Only axum was measured: {statistics.median(rps(v1, 'axum')):.0f}")
    assert "verdict" not in text and "Welch" not in text


def test_an_ab_runs_finding_is_head_against_baseline() -> None:
    run = store.load(DATA / "results-v2-ab.json")
    text = head.section(report.Page(run))
    assert re.match(r"\*\*Head ÷ baseline: \d of 2 closed-loop cells changed significantly", text)
    found = headline(run, None)
    assert found is not None and all("@" not in p.variant for p in found.points)


@pytest.mark.parametrize(
    ("values", "log"),
    [([1, 10], True), ([440, 7813], True), ([1, 9.99], False), ([5], False), ([0, 50], False)],
)
def test_a_log_axis_where_values_differ_ten_times_or_more(values: list[float], log: bool) -> None:
    assert log_axis(values) is log


def test_the_plot_has_a_bar_per_variant_and_measure_and_a_log_axis_only_where_due(
    v1: Run, tmp_path: Path
) -> None:
    assert head.draw(v1, tmp_path, "fastapi-sync") == {head.TITLE: head.FILE}
    svg = (tmp_path / head.FILE).read_text()
    for cell in (c for c in v1.cells if c.ok):
        assert f'id="{cell.id}-requests"' in svg and f'id="{cell.id}-p99"' in svg
    found = headline(v1, "fastapi-sync")
    assert found is not None
    figure = head.figure(found, {})
    scales = [ax.get_xscale() for ax in figure.axes]
    assert scales == ["log", "log"]  # axum: 17 times the throughput, 1/25 the p99
    python = [c for c in v1.cells if c.variant != "axum"]
    close = v1.model_copy(update={"cells": python})
    found = headline(close, "fastapi-sync")
    assert found is not None
    assert head.figure(found, {}).axes[0].get_xscale() == "linear"  # within 10 times


def test_the_report_leads_with_the_sentence_and_the_plot_then_the_method(
    v1: Run, tmp_path: Path
) -> None:
    (tmp_path / "results.json").write_text(store.dump(v1))
    text = report.write_report(tmp_path).read_text()
    blocks = text.split("\n\n")
    assert blocks[0].startswith("# Benchmark run") and blocks[1].startswith("Profile `")
    assert blocks[2].startswith("**") and blocks[3] == f"![{head.TITLE}]({head.FILE})"
    assert blocks[4] == "## How it was measured"
    assert text.count(head.FILE) == 1  # not again among the other plots
