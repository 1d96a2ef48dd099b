"""The run's main finding, as typed values: throughput and p99 of each variant at the headline
load shape (the first sweep's first closed-loop shape, the one its summary table shows), with
intervals over repeats, and the fastest variant against the reference one with a verdict.

An A/B run's finding is its own (head ÷ baseline, `bench.analysis.ab`): here only its head
side is drawn. Words are made in `bench.render.headline`.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.analysis import compare, latency, stats
from bench.analysis.verdict import THROUGHPUT, Kind, Verdict
from bench.model.plan import axis_value, by_axes
from bench.model.results import Cell, Run
from bench.plan.matrix import is_baseline

LOG_SPAN = 10.0  # a log axis where the largest value is at least 10 times the smallest


@dataclass(frozen=True)
class Interval:
    """A value over repeats (throughput: the median; p99: the pooled distribution's, where the
    run recorded it) and the 95% interval of the repeats' mean (None with one repeat)."""

    median: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Point:
    """One variant at the headline shape."""

    variant: str
    cell_id: str
    repeats: int
    rps: Interval
    p99_ms: Interval | None  # None: a run that recorded no p99


@dataclass(frozen=True)
class Finding:
    """The fastest variant against the one it is compared with (the reference, or the
    runner-up when the reference is the fastest or was not measured)."""

    best: Point
    against: Point
    ratio: float  # best ÷ against, median throughput
    p99_ratio: float | None  # best ÷ against, median p99
    verdict: Verdict  # Welch's t-test over the repeats' throughput (against -> best)


@dataclass(frozen=True)
class Headline:
    """The headline shape's points, in plan order, and the finding (None: one variant)."""

    shape: str
    points: tuple[Point, ...]
    finding: Finding | None


def _interval(values: Sequence[float]) -> Interval | None:
    if not values:
        return None
    s = stats.summarize(values)
    return Interval(s.median, s.ci_low, s.ci_high)


def _point(cell: Cell) -> Point | None:
    rps = _interval([r.load.rps for r in cell.repeats])
    p99s = [latency.repeat_ms(r, "p99") for r in cell.repeats]
    if rps is None:
        return None
    spread = None if None in p99s else _interval([v for v in p99s if v is not None])
    shown = latency.latency_ms(cell, "p99")  # as the tables show it: pooled where recorded
    p99 = Interval(shown, spread.low, spread.high) if spread and shown is not None else None
    return Point(cell.variant, cell.id, len(cell.repeats), rps, p99)


def cells(run: Run) -> tuple[str, list[Cell]]:
    """The headline shape (its load as a label) and its measured cells (head side only), in
    plan order."""
    by_id = {c.id: c for c in run.cells if c.params.mode == "closed" and c.ok}
    for sweep in run.plan.sweeps:
        found = [by_id[i] for i in sweep.cells if i in by_id and not is_baseline(by_id[i].variant)]
        if found:
            varying = {a: v for a, v in sweep.axes.items() if len(v) > 1}
            first = next(iter(by_axes(found, varying).values()))
            p = first[0].params
            return f"c={p.concurrency} keepalive={axis_value(p.keepalive)} limit={p.limit}", first
    return "", []


def headline(run: Run, reference: str | None) -> Headline | None:
    """The headline of `run` (None when no closed-loop cell was measured)."""
    shape, found = cells(run)
    points = tuple(p for p in map(_point, found) if p is not None)
    if not points:
        return None
    return Headline(shape, points, _finding(points, found, reference))


def _finding(
    points: Sequence[Point], found: Sequence[Cell], reference: str | None
) -> Finding | None:
    if len(points) < 2:
        return None
    ranked = sorted(points, key=lambda p: p.rps.median, reverse=True)
    best = ranked[0]
    against = next((p for p in points if p.variant == reference and p is not best), ranked[1])
    by_variant = {c.variant: c for c in found}
    change = compare.judge(
        [r.load.rps for r in by_variant[against.variant].repeats],
        [r.load.rps for r in by_variant[best.variant].repeats],
        THROUGHPUT,
    )
    p99 = (
        best.p99_ms.median / against.p99_ms.median
        if best.p99_ms and against.p99_ms and against.p99_ms.median
        else None
    )
    ratio = best.rps.median / against.rps.median if against.rps.median else math.inf
    return Finding(best, against, ratio, p99, change.verdict)


def log_axis(values: Sequence[float]) -> bool:
    """Whether values spread over a factor of LOG_SPAN or more (all positive)."""
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) > 1 and max(positive) / min(positive) >= LOG_SPAN


def tested(finding: Finding) -> bool:
    """Whether the finding's verdict rests on a test (not "cannot tell")."""
    return finding.verdict.kind in (Kind.SIGNIFICANT, Kind.NOT_SIGNIFICANT)
