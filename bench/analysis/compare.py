"""Two runs compared cell by cell: median throughput and p99 latency, each with a verdict.

Cells are matched by id (derived from the variant and its parameters, so the same cell has
the same id in every run). For each cell measured in both runs, the medians over repeats,
the relative change of run B against run A, and whether the change is significant at 95%.

Why Welch's t-test and not Mann-Whitney: runs have few repeats (3 per cell by default), and
with 3 against 3 the smallest two-sided p-value Mann-Whitney's U test can reach is
2 / C(6, 3) = 0.1, so it could never call any change significant at 95%, however large.
Welch's t-test (Student's t without assuming equal variances) uses the values themselves and
can; it assumes roughly normal repeats, which steady repeats of one cell are close to.

An open-loop cell's throughput is the rate it was offered, a fraction of its own run's
closed-loop median, with almost no spread between repeats: Welch would call a 0.1% change
in that rate significant. So it is shown but not tested (nor ever a regression), unless a
run could not sustain it (saturated); its closed-loop cell carries the capacity, and its p99
is tested like any other.

Each repeat's p99 is its own: from the repeat's latency histogram where the run recorded
every request, else oha's own p99 of that repeat. The medians of these per-repeat p99s are
what is compared, so they can differ slightly from the report's pooled p99.
"""

import dataclasses
import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats as scipy_stats

from bench.analysis import ceilings, efficiency, latency, openloop, power
from bench.analysis.drift import Drift, between
from bench.analysis.verdict import LATENCY, THROUGHPUT, Direction, Kind, Verdict, tested
from bench.model.results import Cell, Run

ALPHA = 0.05  # significant at 95%


@dataclass(frozen=True)
class Change:
    """One measure of one cell in both runs: samples, medians, change and verdict."""

    a: tuple[float, ...]  # one value per repeat of run A
    b: tuple[float, ...]
    median_a: float
    median_b: float
    change_pct: float | None  # (median B - median A) / median A, in %; None when A is 0
    verdict: Verdict  # with Welch's two-sided p (None when the test cannot run)
    detectable_pct: float | None = None  # smallest change of the mean seen at 80% power, % of A


@dataclass(frozen=True)
class CellChange:
    """A cell measured in both runs: its throughput and p99 latency compared."""

    cell_id: str
    variant: str
    label: str
    throughput: Change
    p99: Change | None  # None when a run has no p99 for this cell
    cpu_ms: tuple[float | None, float | None] = (None, None)  # server CPU per request, A and B


@dataclass(frozen=True)
class Unmatched:
    """A cell that cannot be compared: in one run only, or failed in one run or both."""

    variant: str
    label: str
    why: str  # "only in A", "only in B", "failed in A", "failed in B", "failed in both"
    a: Cell | None
    b: Cell | None


@dataclass(frozen=True)
class RunInfo:
    """What names a run in a comparison."""

    run_id: str
    profile: str
    started_at: str | None


@dataclass(frozen=True)
class Comparison:
    """Run B against run A."""

    a: RunInfo
    b: RunInfo
    warnings: tuple[str, ...]  # differences between the runs that weaken the comparison
    cells: tuple[CellChange, ...]  # in run A's order
    unmatched: tuple[Unmatched, ...]
    drift: Drift | None = None  # how far the machine moved between the runs
    commit_a: str | None = None  # run A's commit: what `--baseline` would measure B against


def welch(a: Sequence[float], b: Sequence[float]) -> float:
    """Welch's two-sided p-value for equal means of `a` and `b` (nan when undefined)."""
    with warnings.catch_warnings():  # a side without spread is fine for Welch, not a problem
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)


def judge(a: Sequence[float], b: Sequence[float], words: tuple[Direction, Direction]) -> Change:
    """Compare two samples; `words` name a significant rise and fall (THROUGHPUT, LATENCY)."""
    median_a, median_b = statistics.median(a), statistics.median(b)
    change = (median_b - median_a) / median_a * 100 if median_a else None
    found = _verdict(a, b, words)
    return Change(tuple(a), tuple(b), median_a, median_b, change, found, welch_detectable(a, b))


def welch_detectable(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The smallest difference of the means that Welch's test at 0.05 detects in 80% of runs
    with these spreads and counts, in % of A's mean (None: fewer than 2 a side, no spread)."""
    if min(len(a), len(b)) < 2 or not statistics.fmean(a):
        return None
    var_a, var_b = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if var_a + var_b == 0:
        return None
    df = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    shift = power.detectable(math.sqrt(var_a + var_b), df, ALPHA)
    return shift / abs(statistics.fmean(a)) * 100


def _verdict(a: Sequence[float], b: Sequence[float], words: tuple[Direction, Direction]) -> Verdict:
    """B against A: Welch's test where it can run, else why not."""
    if min(len(a), len(b)) < 2:
        return Verdict(Kind.CANNOT_TELL, reason=f"{min(len(a), len(b))} repeat")
    if len(set(a)) == 1 and len(set(b)) == 1:  # no spread: Welch's t is undefined
        if sorted(a) == sorted(b):
            return Verdict(Kind.NOT_SIGNIFICANT)
        return Verdict(Kind.CANNOT_TELL, reason="no spread")
    p = welch(a, b)
    if math.isnan(p):
        return Verdict(Kind.CANNOT_TELL, reason="no spread")
    return tested(p, ALPHA, statistics.fmean(b) > statistics.fmean(a), words)


def _p99(a: Cell, b: Cell) -> Change | None:
    values_a = [latency.repeat_ms(r, "p99") for r in a.repeats]
    values_b = [latency.repeat_ms(r, "p99") for r in b.repeats]
    if any(v is None for v in [*values_a, *values_b]):
        return None
    return judge(
        [v for v in values_a if v is not None], [v for v in values_b if v is not None], LATENCY
    )


def compare(a: Run, b: Run) -> Comparison:
    """Run B against run A, cell by cell, with the differences between the runs."""
    in_b = {c.id: c for c in b.cells}
    cells: list[CellChange] = []
    unmatched: list[Unmatched] = []
    for cell in a.cells:
        other = in_b.get(cell.id)
        if other is None:
            unmatched.append(Unmatched(cell.variant, cell.label, "only in A", cell, None))
        elif not (cell.ok and other.ok):
            where = "both" if not (cell.ok or other.ok) else "A" if not cell.ok else "B"
            unmatched.append(Unmatched(cell.variant, cell.label, f"failed in {where}", cell, other))
        else:
            rps_a, rps_b = [r.load.rps for r in cell.repeats], [r.load.rps for r in other.repeats]
            throughput = judge(rps_a, rps_b, THROUGHPUT)
            if cell.params.mode == "open":
                offered = _open_loop(cell, other)
                throughput = dataclasses.replace(throughput, verdict=offered, detectable_pct=None)
            cost = (
                efficiency.median_cpu_ms(cell, "server"),
                efficiency.median_cpu_ms(other, "server"),
            )
            cells.append(
                CellChange(cell.id, cell.variant, cell.label, throughput, _p99(cell, other), cost)
            )
    in_a = {c.id for c in a.cells}
    unmatched += [
        Unmatched(c.variant, c.label, "only in B", None, c) for c in b.cells if c.id not in in_a
    ]
    moved = between(a, b)
    if moved is not None:
        cells = [_within(c, moved) for c in cells]
    return Comparison(
        _info(a), _info(b), tuple(differences(a, b)), tuple(cells), tuple(unmatched), moved,
        a.metadata.git.commit,
    )  # fmt: skip


def _within(cell: CellChange, moved: Drift) -> CellChange:
    """A cell whose significant changes are no larger than the machine's move between the
    runs could have been (its bound): "cannot tell" instead, for those measures."""

    def gated(change: Change | None) -> Change | None:
        if change is None or not change.verdict.significant or change.change_pct is None:
            return change
        if round(abs(change.change_pct), 1) > round(moved.bound_pct, 1):  # to 0.1%, as shown
            return change
        verdict = Verdict(Kind.CANNOT_TELL, p=change.verdict.p, moved_pct=moved.bound_pct)
        return dataclasses.replace(change, verdict=verdict)

    return dataclasses.replace(
        cell, throughput=gated(cell.throughput) or cell.throughput, p99=gated(cell.p99)
    )


def _open_loop(a: Cell, b: Cell) -> Verdict:
    """An open-loop cell's throughput verdict: which runs could not sustain the rate."""
    full = [
        name
        for name, cell in (("A", a), ("B", b))
        if cell.open_loop
        and (got := ceilings.rps(cell)) is not None
        and openloop.saturated(cell.open_loop.offered_rps, got)
    ]
    if not full:
        return Verdict(Kind.NOT_TESTED, reason="not tested (open loop: offered rate)")
    where = "both" if len(full) == 2 else full[0]
    return Verdict(Kind.NOT_TESTED, reason=f"saturated in {where} (open loop)")


def regressions(comparison: Comparison, pct: float) -> list[CellChange]:
    """Cells whose throughput fell significantly, by more than `pct` percent."""
    return [
        c
        for c in comparison.cells
        if c.throughput.verdict.direction is Direction.SLOWER
        and c.throughput.change_pct is not None
        and c.throughput.change_pct < -pct
    ]


def _info(run: Run) -> RunInfo:
    return RunInfo(run.run_id, run.profile, run.metadata.started_at)


def _changed(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Each key both dicts hold with different values, as "key A vs B"."""
    return [f"{prefix}{k} {a[k]!r} vs {b[k]!r}" for k in a if k in b and a[k] != b[k]]


def _pinning(run: Run) -> str:
    if run.metadata.pinning is None:
        return "not recorded"
    plan = run.metadata.pinning.plan
    if all(cpus is None for cpus in plan.values()):
        return "unpinned"
    return ", ".join(
        f"{role} {cpus if cpus is not None else 'unpinned'}" for role, cpus in plan.items()
    )


def _histograms(run: Run) -> bool:
    """Whether the run recorded every request (latency histograms) in its measured repeats."""
    return any(r.latency_hdr for c in run.cells for r in c.repeats)


def _git(a: Run, b: Run) -> list[str]:
    found: list[str] = []
    commit_a, commit_b = a.metadata.git.commit, b.metadata.git.commit
    if commit_a != commit_b:
        found.append(
            f"The runs are from different commits: A {commit_a or 'unknown'}, "
            f"B {commit_b or 'unknown'}."
        )
    dirty = [name for name, run in (("A", a), ("B", b)) if run.metadata.git.dirty]
    if dirty:
        which = "Both runs were" if len(dirty) == 2 else f"Run {dirty[0]} was"
        found.append(f"{which} made from a checkout with uncommitted changes (dirty tree).")
    return found


def differences(a: Run, b: Run) -> list[str]:
    """Sentences naming what differs between the runs besides the code under test."""
    ma, mb = a.metadata, b.metadata
    found: list[str] = []
    machine = _changed(ma.cpu.model_dump(), mb.cpu.model_dump(), "cpu ")
    machine += _changed(ma.host.model_dump(), mb.host.model_dump())
    if machine:
        found.append(f"The runs were on different machines or settings: {'; '.join(machine)}.")
    if _pinning(a) != _pinning(b):
        found.append(f"CPU pinning differs: A {_pinning(a)}; B {_pinning(b)}.")
    locks = [
        name
        for name, info in ma.variants.items()
        if name in mb.variants and info.lock_sha256 != mb.variants[name].lock_sha256
    ]
    if locks:
        found.append(f"Variants built from different locks: {', '.join(locks)}.")
    found += _git(a, b)
    settings = _changed(a.plan.measure.model_dump(), b.plan.measure.model_dump())
    if settings:
        found.append(f"Measurement settings differ: {'; '.join(settings)}.")
    if ma.tools.get("oha") != mb.tools.get("oha"):
        found.append(f"oha versions differ: A {ma.tools.get('oha')}, B {mb.tools.get('oha')}.")
    if _histograms(a) != _histograms(b):
        found.append(
            "p99 comes from per-request histograms in one run and from oha's own percentiles "
            "in the other."
        )
    return found
