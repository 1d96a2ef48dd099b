"""An A/B run (`--baseline REV`): each cell of this checkout against the same cell at the
baseline, measured in the same rounds.

Both sides of a cell ran once in every round, in an order shuffled per round, so a round's
two repeats saw nearly the same machine. The comparison is paired: the ratio head ÷
baseline within each round, averaged on the log scale (a geometric mean), with Student's t
interval over the rounds (Kalibera & Jones: the interval carries the variation between
rounds, the level that varies most here). A drift of the machine from round to round moves
both sides of a round together and cancels in the ratio, where two independent samples
would carry it whole. A bootstrap over rounds says little with 3 to 10 rounds, so it is not
used.

The run holds one test per cell, so each family of tests (the closed-loop cells' throughput;
every cell's p99) is adjusted for its size m by Bonferroni: a verdict is significant when
m * p < 0.05, and each interval is at 1 - 0.05/m, so the m intervals hold together with 95%
confidence. "Significant" somewhere among 5 identical cells stays a 5% event, not a 23% one,
and an interval excludes x1 exactly when its verdict is significant (the same t statistic
against the same quantile). Holm's step-down is more powerful for the second and later
changed cells, but it has no intervals that agree with it and still say how large a change
is; one changed cell, the usual A/B, is judged alike by both.

Each tested measure also carries the smallest ratio its rounds could have detected at 80%
power, at the family's level (`bench.analysis.power`): "no significant change" then means
nothing beyond that.
"""

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from bench.analysis import latency, power
from bench.analysis.stats import CONFIDENCE, t_quantile
from bench.analysis.verdict import LATENCY, THROUGHPUT, Direction, Kind, Verdict, tested
from bench.model.results import Cell, Repeat, Run
from bench.plan.matrix import head, is_baseline

ALPHA = 1 - CONFIDENCE
UNPAIRED = "not measured on both sides"


@dataclass(frozen=True)
class Paired:
    """One measure of one cell on both sides, round by round."""

    head: tuple[float, ...]  # one value per round both sides measured
    baseline: tuple[float, ...]
    ratio: float | None  # geometric mean of the rounds' head / baseline (None: no round)
    low: float | None  # its interval at 1 - 0.05/tests (None with fewer than 2 rounds)
    high: float | None
    p_value: float | None  # paired t-test of the log ratios against 0, unadjusted
    verdict: Verdict  # its p: min(1, tests * p_value), significant below 0.05 (see pairs)
    tests: int = 1  # the size of the family the interval and verdict are adjusted for
    detectable: float | None = None  # beyond xd or below x1/d: detected at 80% power


@dataclass(frozen=True)
class Pair:
    """A cell of the plan measured at head and at the baseline."""

    variant: str  # its name at head
    label: str
    mode: str
    throughput: Paired
    p99: Paired


def log_ratios(head: Sequence[float], base: Sequence[float]) -> list[float]:
    """ln(head / baseline) of each round."""
    return [math.log(h / b) for h, b in zip(head, base, strict=True)]


def paired(head: Sequence[float], base: Sequence[float], tests: int = 1) -> Paired:
    """The geometric mean ratio, its t interval at 1 - 0.05/tests, the paired t-test's p
    (unadjusted) and the smallest ratio detectable at that level; the verdict says "cannot
    tell" until `judged` judges it."""
    logs = log_ratios(head, base)
    if not logs:
        return Paired((), (), None, None, None, None, Verdict(Kind.NOT_TESTED, reason=UNPAIRED))
    mean = statistics.fmean(logs)
    unjudged = Verdict(Kind.CANNOT_TELL, reason=f"{len(logs)} round")
    if len(logs) < 2:
        return Paired(tuple(head), tuple(base), math.exp(mean), None, None, None, unjudged)
    alpha, spread = ALPHA / tests, statistics.stdev(logs)
    half = t_quantile(len(logs) - 1, 1 - alpha) * spread / math.sqrt(len(logs))
    if spread == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(scipy_stats.ttest_1samp(logs, 0.0).pvalue)
    low, high = math.exp(mean - half), math.exp(mean + half)
    detectable = power.detectable_ratio(spread, len(logs), alpha)
    return Paired(
        tuple(head), tuple(base), math.exp(mean), low, high, p, unjudged, tests, detectable
    )


def judged(measure: Paired, words: tuple[Direction, Direction]) -> Paired:
    """The verdict on Bonferroni's p, min(1, tests * p): a significant rise or fall (words),
    no significant change, or, without a test, why not."""
    if measure.ratio is None or measure.p_value is None:
        return measure
    p = min(1.0, measure.tests * measure.p_value)
    return dataclasses.replace(measure, verdict=tested(p, ALPHA, measure.ratio > 1, words))


def _rounds(
    head: Cell, base: Cell, value: Callable[[Repeat], float | None]
) -> tuple[list[float], list[float]]:
    """The values of the rounds in which both sides measured a good repeat."""

    def good(cell: Cell) -> dict[int, float]:
        found = {r.index: value(r) for r in cell.repeats if r.failure is None}
        return {i: v for i, v in found.items() if v}

    a, b = good(head), good(base)
    rounds = sorted(a.keys() & b.keys())
    return [a[i] for i in rounds], [b[i] for i in rounds]


def pairs(run: Run) -> list[Pair]:
    """Every cell of an A/B run measured on both sides, in plan order, with verdicts: a
    throughput verdict for closed-loop cells (an open-loop cell's throughput is the rate it
    was offered), a p99 verdict for every cell."""
    by_id = {c.id: c for c in run.cells}
    bases = {(head(c.variant), c.params): c for c in run.cells if is_baseline(c.variant)}
    found: list[tuple[Cell, Cell]] = []
    for spec in run.plan.cells:
        cell = by_id.get(spec.id)
        base = bases.get((spec.variant, spec.params))
        if cell is not None and base is not None and not is_baseline(spec.variant):
            found.append((cell, base))
    closed = [h.params.mode == "closed" for h, _ in found]
    rps = [_rounds(h, b, lambda r: r.load.rps) for h, b in found]
    p99 = [_rounds(h, b, lambda r: latency.repeat_ms(r, "p99")) for h, b in found]
    rps_tests = _tests([r for r, c in zip(rps, closed, strict=True) if c])
    p99_tests = _tests(p99)
    return [
        Pair(
            cell.variant,
            cell.label,
            cell.params.mode,
            judged(paired(*r, rps_tests), THROUGHPUT) if c else _offered(paired(*r)),
            judged(paired(*q, p99_tests), LATENCY),
        )
        for (cell, _), r, q, c in zip(found, rps, p99, closed, strict=True)
    ]


def _tests(rounds: Sequence[tuple[list[float], list[float]]]) -> int:
    """A family's size: the cells with the two rounds or more a paired test needs."""
    return max(1, sum(len(head) >= 2 for head, _ in rounds))


def _offered(measure: Paired) -> Paired:
    """An open-loop cell's throughput: shown, not judged (each side's offered rate)."""
    offered = Verdict(Kind.NOT_TESTED, reason="not tested (open loop: offered rate)")
    return dataclasses.replace(measure, p_value=None, verdict=offered, detectable=None)


def regressions(pairs: Sequence[Pair], pct: float) -> list[Pair]:
    """Cells whose throughput head ÷ baseline fell significantly, by more than `pct` percent."""
    return [
        p
        for p in pairs
        if p.throughput.verdict.direction is Direction.SLOWER
        and p.throughput.ratio is not None
        and p.throughput.ratio < 1 - pct / 100
    ]
