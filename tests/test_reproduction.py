"""Reproduction verdicts: ratio and interval arithmetic against the published numbers, the
tolerance, the reasons, and the section, on the committed reference runs."""

from collections.abc import Sequence
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from bench.analysis import ceilings, reproduction
from bench.analysis.reproduction import Ratio
from bench.model import published, store
from bench.model.results import Cell, Run
from bench.render import reproduction as section
from bench.render.page import Page

REFERENCES = Path(__file__).parent.parent / "reports" / "published"
REPOSITORY = published.load()["repository"]
ONLY_REPOSITORY = {"repository": REPOSITORY}


@pytest.fixture
def default() -> Run:
    """Our committed reference run of the default profile."""
    return store.load(REFERENCES / "default" / "results.json")


def cells(run: Run) -> dict[str, Cell]:
    """The cell standing for each row of the repository run."""
    found = {row: reproduction.match(run, REPOSITORY, row) for row in REPOSITORY.rows}
    return {row: m.cell for row, m in found.items() if m is not None}


def set_rps(cell: Cell, values: Sequence[float]) -> None:
    """Give the cell's repeats these throughputs."""
    assert len(values) == len(cell.repeats)
    for repeat, value in zip(cell.repeats, values, strict=True):
        repeat.load = repeat.load.model_copy(update={"rps": value})


def as_published(run: Run, scale: dict[str, float] | None = None) -> None:
    """Each row's cell at the published throughput (x scale), with a 1% spread."""
    for row, cell in cells(run).items():
        value = REPOSITORY.rows[row].rps * (scale or {}).get(row, 1.0)
        set_rps(cell, [value * f for f in (0.99, 1.0, 1.01)])


def ratios(run: Run) -> dict[tuple[str, str, str], Ratio]:
    """(numerator, denominator, figure) -> ratio, against the repository run."""
    (found,) = reproduction.reproduce(run, ONLY_REPOSITORY)
    return {(r.numerator, r.denominator, r.figure): r for r in found.ratios}


def test_the_published_throughput_ratios_are_reproduced_exactly(default: Run) -> None:
    as_published(default)
    found = ratios(default)
    for a, b in reproduction.PAIRS:
        r = found[(a, b, "rps")]
        assert r.published == pytest.approx(REPOSITORY.rows[a].rps / REPOSITORY.rows[b].rps)
        assert r.ours == pytest.approx(r.published)
        assert r.verdict() == "reproduced"
    assert found[("axum", "fastapi", "rps")].published == pytest.approx(25.1, abs=0.05)


def test_half_the_published_ratio_is_not_reproduced_and_says_by_how_much(default: Run) -> None:
    as_published(default, {"axum": 0.5})
    r = ratios(default)[("axum", "fastapi", "rps")]
    assert r.ours == pytest.approx(r.published / 2)
    assert r.difference == pytest.approx(-0.5)
    assert r.verdict() == "not reproduced: 50% smaller (same ordering)"


def test_a_reversed_ordering_is_named(default: Run) -> None:
    as_published(default, {"axum": 612 / 15363 / 2})  # Axum at half FastAPI's throughput
    r = ratios(default)[("axum", "fastapi", "rps")]
    assert r.ours == pytest.approx(0.5)
    assert r.verdict().endswith("(ordering reversed)")


def test_the_interval_combines_the_two_student_t_intervals(default: Run) -> None:
    r = ratios(default)[("axum", "fastapi", "rps")]
    found = cells(default)

    def interval(cell: Cell) -> tuple[float, float]:
        values = [x.load.rps for x in cell.repeats]
        mean, sem = scipy_stats.tmean(values), scipy_stats.sem(values)
        low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=mean, scale=sem)
        return float(low), float(high)

    (a_low, a_high), (b_low, b_high) = interval(found["axum"]), interval(found["fastapi"])
    assert r.low == pytest.approx(a_low / b_high)
    assert r.high == pytest.approx(a_high / b_low)
    assert r.low is not None and r.high is not None and r.low <= r.ours <= r.high


def test_latency_and_memory_ratios_put_the_slower_stack_on_top(default: Run) -> None:
    found = ratios(default)
    p99 = found[("fastapi", "axum", "p99_ms")]
    assert p99.published == pytest.approx(29.1 / 0.9)
    memory = found[("fastapi-async", "axum", "memory_mib")]
    assert memory.published == pytest.approx(69 / 11)
    assert all(r.figure == "rps" for (a, _, _), r in found.items() if a == "axum")


@pytest.mark.parametrize(
    ("ours", "reproduced", "verdict"),
    [
        (12.5, True, "reproduced"),  # 12.5 / 1.25 = 10.0: at the edge of the tolerance
        (12.6, False, "not reproduced: 26% larger (same ordering)"),
        (8.0, True, "reproduced"),  # 8.0 x 1.25 = 10.0
        (7.9, False, "not reproduced: 21% smaller (same ordering)"),
    ],
)
def test_the_tolerance_is_applied_around_a_single_repeat(
    ours: float, reproduced: bool, verdict: str
) -> None:
    r = Ratio("axum", "fastapi", "rps", 10.0, ours, None, None, [])
    assert r.reproduced is reproduced
    assert r.verdict() == verdict


def test_the_tolerance_widens_the_interval_not_the_point() -> None:
    r = Ratio("axum", "fastapi", "rps", 10.0, 14.0, 12.4, 15.0, [])
    assert r.reproduced  # 12.4 / 1.25 = 9.92
    assert not Ratio("axum", "fastapi", "rps", 10.0, 14.0, 12.6, 15.0, []).reproduced


def test_the_fair_variant_is_named_as_a_difference(default: Run) -> None:
    match = reproduction.match(default, REPOSITORY, "fastapi")
    assert match is not None and match.cell.variant == "fastapi-sync"
    (difference,) = match.differences
    assert "fastapi-sync-psycopg2" in difference and "--profile seed-exact" in difference
    axum = reproduction.match(default, REPOSITORY, "axum")
    assert axum is not None and axum.differences == []


def test_the_seed_exact_reference_runs_the_published_variants() -> None:
    run = store.load(REFERENCES / "seed-exact" / "results.json")
    for row in REPOSITORY.rows:
        match = reproduction.match(run, REPOSITORY, row)
        assert match is not None
        assert match.cell.variant == REPOSITORY.rows[row].variants[0]
        assert match.differences == []


def test_a_server_cpu_that_was_not_the_limit_is_given_as_a_reason(default: Run) -> None:
    as_published(default, {"axum": 0.5})
    axum = cells(default)["axum"]
    plan = default.metadata.pinning.plan if default.metadata.pinning else {}
    bound = ceilings.binding(axum, plan, default.metadata.cpu.logical or 1)
    assert bound is not None
    reasons = " ".join(ratios(default)[("axum", "fastapi", "rps")].reasons)
    named = "axum's server CPU was not the limit" in reasons
    assert named is (bound.resource.roles != ("server",))


def test_the_section_counts_the_verdicts(default: Run) -> None:
    found = reproduction.reproduce(default, published.load())
    all_ratios = [r for rep in found for r in rep.ratios]
    done = sum(r.reproduced for r in all_ratios)
    text = section.section(Page(default))
    assert text.startswith("## Reproduction of the published comparison")
    assert f"**{done} of {len(all_ratios)} published ratios reproduced**" in text
    assert "**This run, published-style**" in text and REPOSITORY.machine in text


def test_a_run_without_two_published_stacks_has_no_section() -> None:
    run = store.load(Path(__file__).parent / "data" / "results-v2.json")  # fastapi-tuned, axum
    assert reproduction.reproduce(run, published.load()) == []
    assert section.section(Page(run)) == ""
