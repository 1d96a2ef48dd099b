"""`python -m bench compare RUN_A RUN_B`: two stored runs compared cell by cell, Welch's test
checked against hand computation, and bad input refused in one line before anything runs."""

import dataclasses
import math
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from bench.analysis import compare
from bench.analysis.drift import Drift, Yardstick
from bench.analysis.verdict import THROUGHPUT, Direction, Kind, Verdict
from bench.cli import main
from bench.load import latency
from bench.model import published, store
from bench.model.results import OpenLoop, Run
from bench.render.compare import render
from bench.render.verdict import text

DATA = Path(__file__).parent / "data"
RUN = DATA / "results-v2.json"  # 12 cells of 2 repeats each, oha's own percentiles


def copy_of(name: str, tmp_path: Path, change: Callable[[Run], None], source: Path = RUN) -> Path:
    """A run folder under `tmp_path` holding the stored run changed by `change`."""
    run = store.load(source)
    change(run)
    folder = tmp_path / name
    folder.mkdir()
    store.save(run, folder / "results.json")
    return folder


def halve_throughput(run: Run) -> None:
    for cell in run.cells:
        for repeat in cell.repeats:
            repeat.load.rps /= 2
            repeat.load.ok //= 2


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(markdown: str) -> list[list[str]]:
    """The comparison table's data rows, split into their columns."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]


def test_a_run_against_itself_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, str(RUN), str(RUN), "--fail-on-regression", "10")
    assert (code, err) == (0, "")
    rows = table_rows(out)
    assert len(rows) == len(store.load(RUN).cells) == 12
    for row in rows:
        throughput_verdict, p99_verdict = row[5], row[10]
        assert throughput_verdict.startswith("not significant"), row
        assert p99_verdict.startswith("not significant"), row
        assert row[4] == row[9] == "+0.0%", row
        assert row[6].startswith("\N{PLUS-MINUS SIGN}") and row[6].endswith("%"), row
    assert "12 cells compared: no significant change in throughput" in out
    assert "Not compared" not in out


def test_halved_throughput_is_slower_everywhere_and_fails_the_gate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    slow = copy_of("slow", tmp_path, halve_throughput)
    out_file = tmp_path / "compare.md"
    code, out, err = cli(capsys, str(RUN), str(slow), "--fail-on-regression", "10", "--out",
                         str(out_file))  # fmt: skip
    assert code == 1
    rows = table_rows(out)
    assert len(rows) == 12
    for row in rows:
        assert row[4] == "-50.0%", row
        assert row[5].startswith("significant: slower (p="), row
        assert row[10].startswith("not significant"), row  # the latencies did not change
    assert len(err.splitlines()) == 12
    assert all(line.startswith("regression: ") for line in err.splitlines())
    assert out_file.read_text() == out
    # without the gate the same comparison is only a report; a bigger threshold lets it pass
    assert cli(capsys, str(RUN), str(slow))[0] == 0
    assert cli(capsys, str(RUN), str(slow), "--fail-on-regression", "60")[0] == 0


def test_the_gate_reads_the_typed_verdict_not_its_words() -> None:
    """--fail-on-regression takes a cell whose verdict is significant, direction slower; the
    same -50% with any other verdict is no regression, whatever its words say."""
    halved = store.load(RUN)
    halve_throughput(halved)
    comparison = compare.compare(store.load(RUN), halved)
    assert len(compare.regressions(comparison, 10)) == 12

    def every_verdict(verdict: Verdict) -> compare.Comparison:
        cells = [
            dataclasses.replace(c, throughput=dataclasses.replace(c.throughput, verdict=verdict))
            for c in comparison.cells
        ]
        return dataclasses.replace(comparison, cells=tuple(cells))

    slower = Verdict(Kind.SIGNIFICANT, Direction.SLOWER, p=0.01)
    assert len(compare.regressions(every_verdict(slower), 10)) == 12
    for other in [
        Verdict(Kind.SIGNIFICANT, Direction.FASTER, p=0.01),
        Verdict(Kind.CANNOT_TELL, p=0.01, moved_pct=60),
        Verdict(Kind.NOT_TESTED, reason="significant: slower (p=0.01)"),
    ]:
        assert compare.regressions(every_verdict(other), 10) == [], other


def test_a_verdict_is_worded_in_one_place() -> None:
    assert text(Verdict(Kind.SIGNIFICANT, Direction.HIGHER, p=0.0031)) == (
        "significant: higher (p=0.0031)"
    )
    assert text(Verdict(Kind.NOT_SIGNIFICANT, p=0.432)) == "not significant (p=0.43)"
    assert text(Verdict(Kind.NOT_SIGNIFICANT, p=0.432), "no significant change") == (
        "no significant change (p=0.43)"
    )
    assert text(Verdict(Kind.CANNOT_TELL, reason="1 round")) == "cannot tell (1 round)"
    assert text(Verdict(Kind.CANNOT_TELL, p=0.01, moved_pct=4.6)) == (
        "cannot tell: the machine moved by up to 5% between the runs"
    )
    with pytest.raises(ValueError, match="significant verdict with direction None"):
        Verdict(Kind.SIGNIFICANT, p=0.01)


def test_welch_p_value_matches_the_hand_computed_one() -> None:
    # a = 1, 2, 3 and b = 4, 5, 6: means 2 and 5, variances 1, so t = -3 / sqrt(2/3)
    # and the Welch-Satterthwaite df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4 exactly.
    t = 3 / math.sqrt(2 / 3)
    # Student's t CDF for 4 degrees of freedom in closed form (no scipy)
    x = t * t / 4
    cdf = 0.5 + 3 / 8 * t / math.sqrt(1 + x) * (1 - t * t / (12 * (1 + x)))
    assert compare.welch([1, 2, 3], [4, 5, 6]) == pytest.approx(2 * (1 - cdf), rel=1e-9)
    # unequal sizes and spreads: the Welch-Satterthwaite formula written out
    a, b = [402.1, 398.7, 405.3, 400.2], [391.0, 385.2, 399.9]
    va, vb = (statistics.variance(s) / len(s) for s in (a, b))
    t = (sum(a) / len(a) - sum(b) / len(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    assert compare.welch(a, b) == pytest.approx(2 * scipy_stats.t.sf(abs(t), df), rel=1e-9)
    # a published worked example (Wikipedia, "Welch's t-test", example 1: t -2.46, df 25.0,
    # p 0.021, as printed to its precision)
    a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    assert round(compare.welch(a, b), 3) == 0.021


def test_welch_smallest_detectable_change_by_hand() -> None:
    """a = 1, 2, 3 and b = 4, 5, 6: standard error sqrt(2/3) on 4 degrees of freedom (above).
    The smallest difference of means detected in 80% of runs is the noncentrality at which
    the noncentral t passes t(0.975, 4) = 2.776 (the printed table's value) that often, in %
    of A's mean (2); it shrinks with more repeats of the same spread and grows with spread."""
    pct = compare.welch_detectable([1, 2, 3], [4, 5, 6])
    assert pct is not None
    nc, c = pct / 100 * 2 / math.sqrt(2 / 3), 2.7764451051977987
    assert scipy_stats.nct.sf(c, 4, nc) + scipy_stats.nct.cdf(-c, 4, nc) == pytest.approx(0.8)
    more = compare.welch_detectable([1, 2, 3] * 3, [4, 5, 6] * 3)
    wider = compare.welch_detectable([0, 2, 4], [3, 5, 7])
    assert more is not None and wider is not None and more < pct < wider
    assert compare.welch_detectable([1], [4, 5]) is None  # no spread from one repeat
    assert compare.welch_detectable([2, 2], [5, 5]) is None  # no spread at all
    assert compare.judge([1, 2, 3], [4, 5, 6], THROUGHPUT).detectable_pct == pct


def test_why_not_mann_whitney() -> None:
    """With 3 repeats a side, Mann-Whitney's best two-sided p is 0.1: never significant."""
    apart = scipy_stats.mannwhitneyu([100, 102, 98], [90, 91, 89], alternative="two-sided")
    assert apart.pvalue == pytest.approx(0.1)
    assert compare.welch([100, 102, 98], [90, 91, 89]) < 0.05  # Welch tells them apart


@pytest.mark.parametrize(
    ("a", "b", "kind", "words"),
    [
        ([100.0], [50.0, 51.0], Kind.CANNOT_TELL, "cannot tell (1 repeat)"),
        ([100.0, 100.0], [100.0, 100.0], Kind.NOT_SIGNIFICANT, "not significant"),
        ([100.0, 100.0], [50.0, 50.0], Kind.CANNOT_TELL, "cannot tell (no spread)"),
        (
            [100.0, 102.0, 98.0],
            [100.0, 100.0, 100.0],
            Kind.NOT_SIGNIFICANT,
            "not significant (p=1)",
        ),
        ([100.0, 102.0, 98.0], [50.0, 52.0, 48.0], Kind.SIGNIFICANT, "significant: slower (p="),
        ([50.0, 52.0, 48.0], [100.0, 102.0, 98.0], Kind.SIGNIFICANT, "significant: faster (p="),
    ],
)
def test_edge_cases_have_honest_verdicts(
    a: list[float], b: list[float], kind: Kind, words: str
) -> None:
    verdict = compare.judge(a, b, THROUGHPUT).verdict
    assert verdict.kind is kind and text(verdict).startswith(words)
    assert (verdict.p is not None) == ("(p=" in words)


def test_p99_comes_from_each_repeats_histogram(tmp_path: Path) -> None:
    """Where repeats hold histograms, their own p99s are compared, not oha's."""

    def with_histograms(run: Run) -> None:
        for cell in run.cells:
            for i, repeat in enumerate(cell.repeats):
                hist = latency.empty()
                for v in range(1, 101):  # 1..100 ms, plus i ms: p99 is 99 + i ms
                    hist.record_value((v + i) * 1000)
                repeat.latency_hdr = latency.encode(hist)

    recorded = store.load(copy_of("hdr", tmp_path, with_histograms) / "results.json")
    result = compare.compare(recorded, recorded)
    for cell in result.cells:
        assert cell.p99 is not None
        assert cell.p99.a == pytest.approx((99.0, 100.0), rel=1e-3)
    # against a run without histograms the p99s come from different sources: a warning says so
    mixed = compare.compare(store.load(RUN), recorded)
    assert any("histograms" in w for w in mixed.warnings)


def open_loop(run: Run) -> None:
    """Every cell turned into an open-loop cell offered its own median throughput."""
    for i, cell in enumerate(run.cells):
        params = cell.params.model_copy(update={"mode": "open", "rate": 0.5})
        rps = statistics.median(r.load.rps for r in cell.repeats)
        plan = OpenLoop(closed_cell=cell.id, closed_rps=2 * rps, offered_rps=rps, connections=10,
                        latency_basis_ms=5)  # fmt: skip
        run.cells[i] = cell.model_copy(update={"params": params, "open_loop": plan})


def test_an_open_loop_rate_is_shown_not_tested(tmp_path: Path) -> None:
    """Its throughput is the offered rate: a 0.5% lower rate (half its own run's closed-loop
    median, which moved within noise) is no regression; a rate not sustained is named."""

    def lower_rate(run: Run) -> None:
        open_loop(run)
        for cell in run.cells:
            for repeat in cell.repeats:
                repeat.load.rps *= 0.995

    a = store.load(copy_of("a", tmp_path, open_loop) / "results.json")
    b = store.load(copy_of("b", tmp_path, lower_rate) / "results.json")
    result = compare.compare(a, b)
    assert len(result.cells) == 12
    for cell in result.cells:
        assert cell.throughput.verdict.kind is Kind.NOT_TESTED
        assert text(cell.throughput.verdict) == "not tested (open loop: offered rate)"
        assert cell.throughput.change_pct == pytest.approx(-0.5)
    assert compare.regressions(result, 0.1) == []

    def unsustained(run: Run) -> None:  # half the offered rate achieved
        open_loop(run)
        halve_throughput(run)

    c = store.load(copy_of("c", tmp_path, unsustained) / "results.json")
    for cell in compare.compare(a, c).cells:
        assert text(cell.throughput.verdict) == "saturated in B (open loop)"


def test_cells_in_one_run_only_or_failed_are_listed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = store.load(RUN)
    first, second, third = run.cells[:3]

    def drop_first(r: Run) -> None:
        r.cells = r.cells[1:]

    def drop_second_fail_third(r: Run) -> None:
        r.cells = [c for c in r.cells if c.id != second.id]
        r.cells[1].error = "server exited with code 1"

    a = copy_of("a", tmp_path, drop_first)
    b = copy_of("b", tmp_path, drop_second_fail_third)
    code, out, _ = cli(capsys, str(a), str(b))
    assert code == 0
    assert len(table_rows(out)) == 12 - 3
    listed = out.split("## Not compared")[1]
    assert f"`{second.variant}` ({second.label}): only in A" in listed
    assert f"`{third.variant}` ({third.label}): failed in B; B: server exited with code 1" in listed
    assert f"`{first.variant}` ({first.label}): only in B" in listed


def test_warnings_name_a_different_commit_and_pinning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def elsewhere(run: Run) -> None:
        run.metadata.git.commit = "0" * 40
        assert run.metadata.pinning is not None
        run.metadata.pinning.plan = {"server": None, "database": None, "loadgen": None}

    code, out, _ = cli(capsys, str(RUN), str(copy_of("other", tmp_path, elsewhere)))
    assert code == 0
    warnings = out.split("**Warnings**")[1].split("\n\n")[1]
    assert "different commits" in warnings and "0" * 40 in warnings
    assert "CPU pinning differs" in warnings and "B unpinned" in warnings
    assert "oha versions differ" not in warnings


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p), p.lstat().st_mtime_ns) for p in [root, *root.rglob("*")])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nosuch", str(RUN)], "'nosuch' is no run folder"),
        ([str(RUN), str(RUN), "--fail-on-regression", "ten"], "not a percentage in (0, 100]"),
        ([str(RUN), str(RUN), "--fail-on-regression", "0"], "not a percentage in (0, 100]"),
        ([str(RUN), str(RUN), "--fail-on-regression", "150"], "not a percentage in (0, 100]"),
        ([str(RUN), str(RUN), "--fail-on-regression", "nan"], "not a percentage in (0, 100]"),
        ([str(RUN), str(DATA)], "is not a run folder"),
    ],
    ids=["unknown-name", "pct-text", "pct-zero", "pct-over", "pct-nan", "not-a-run"],
)
def test_bad_input_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], says: str
) -> None:
    before = tree(tmp_path)
    code, out, err = cli(capsys, *args, "--out", str(tmp_path / "compare.md"))
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("bench: error: "), err
    assert says in err, err
    assert tree(tmp_path) == before
    if "nosuch" in args:  # the references one could have meant are named
        for name in (p.parent.name for p in published.FOLDER.glob("*/results.json")):
            assert name in err


def test_an_out_file_in_a_missing_folder_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(capsys, str(RUN), str(RUN), "--out", str(tmp_path / "no" / "x.md"))
    assert (code, out) == (2, "")
    assert "no writable folder" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "no").exists()


AB = DATA / "results-v2-ab.json"  # has a canary around every repeat and both ceilings


def steady(run: Run) -> None:
    """Every cell at 1000, 1010 and 1020 rps: little spread, so Welch sees a 15% change."""
    for cell in run.cells:
        for repeat in cell.repeats:
            repeat.load.rps = 1000.0 + 10 * repeat.index


def faster(factor: float, canary: bool = False, ceilings: bool = False) -> Callable[[Run], None]:
    """Steady cells `factor` times faster; the canary and/or the ceilings moved alike."""

    def change(run: Run) -> None:
        steady(run)
        for cell in run.cells:
            for repeat in cell.repeats:
                repeat.load.rps *= factor
                for reading in (repeat.canary.before, repeat.canary.after) if canary else ():
                    reading.ms = {cpu: ms / factor for cpu, ms in reading.ms.items()}
        for probe in run.probes if ceilings else []:
            for speed in ("tps", "rps"):
                if speed in probe.values:
                    probe.values[speed] *= factor

    return change


def steady_pair(tmp_path: Path, change: Callable[[Run], None]) -> compare.Comparison:
    tmp_path.mkdir(exist_ok=True)
    a = store.load(copy_of("a", tmp_path, steady, AB) / "results.json")
    return compare.compare(a, store.load(copy_of("b", tmp_path, change, AB) / "results.json"))


@pytest.mark.parametrize(
    ("canary", "ceilings"), [(True, False), (False, True)], ids=["canary", "ceilings"]
)
def test_a_change_the_machine_also_made_cannot_be_told(
    canary: bool, ceilings: bool, tmp_path: Path
) -> None:
    """B is 15% faster everywhere and its yardstick (the canary, or the ceilings) moved as
    much: no verdict says faster, each says the machine moved; the A/B command is named."""
    comparison = steady_pair(tmp_path, faster(1.15, canary, ceilings))
    assert comparison.drift is not None and comparison.drift.pct == pytest.approx(15)
    reach = comparison.drift.bound_pct  # the other yardsticks stood still: wider than 15%
    assert reach > 15
    verdicts = {text(c.throughput.verdict) for c in comparison.cells}
    assert verdicts == {f"cannot tell: the machine moved by up to {reach:.0f}% between the runs"}
    assert all(c.throughput.verdict.kind is Kind.CANNOT_TELL for c in comparison.cells)
    assert all(c.throughput.verdict.direction is None for c in comparison.cells)
    markdown = render(comparison)
    assert "**The machine moved by up to 15.0% between the runs**" in markdown
    assert f"`nox -s bench -- --baseline {comparison.commit_a[:12]}`" in markdown  # type: ignore[index]


def test_a_change_beyond_the_machines_move_is_still_called(tmp_path: Path) -> None:
    """B is 15% faster, the machine (canary and ceilings) moved 5%: faster, significantly;
    the same 15% with a machine that did not move at all: faster too."""
    moved = faster(1.05, canary=True, ceilings=True)

    def change(run: Run) -> None:
        moved(run)
        for cell in run.cells:
            for repeat in cell.repeats:
                repeat.load.rps *= 1.15 / 1.05

    comparison = steady_pair(tmp_path / "moved", change)
    assert comparison.drift is not None and comparison.drift.pct == pytest.approx(5)
    assert [c.throughput.verdict.direction for c in comparison.cells] == [Direction.FASTER] * 4
    still = steady_pair(tmp_path / "still", faster(1.15))
    assert still.drift is not None and still.drift.pct == pytest.approx(0, abs=1e-9)
    assert [c.throughput.verdict.direction for c in still.cells] == [Direction.FASTER] * 4


def test_yardsticks_that_disagree_widen_what_the_machine_could_have_done() -> None:
    """Two default runs of one commit on the 2-CPU VM (pair 3, 2026-12-02): the canaries
    moved -19.1% and -30.2%, the ceilings -29.1% and -33.7%. A cell's own move is predicted
    from theirs: |mean| + t(3) * s * sqrt(1 + 1/4), worked by hand: 28.025% + 3.1824 *
    6.2649% * 1.1180 = 50.3%; fastapi-sync's -35.9% in that pair is within it."""
    moves = (-0.191, -0.302, -0.291, -0.337)
    drift = Drift(tuple(Yardstick(f"y{i}", m) for i, m in enumerate(moves)))
    assert drift.pct == pytest.approx(33.7)
    assert drift.bound_pct == pytest.approx(50.3, abs=0.05)
    alike = Drift((Yardstick("a", 0.05), Yardstick("b", 0.05), Yardstick("c", 0.05)))
    assert alike.bound_pct == pytest.approx(5)  # no spread: the move itself
    assert Drift((Yardstick("one", -0.2),)).bound_pct == pytest.approx(20)
