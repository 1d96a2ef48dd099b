"""Counted runs: server instructions per request per variant, and an A/B run's head ÷
baseline of them with a verdict against a threshold.

Each side of a counted cell has several lives (fresh servers); a life's count is its
instructions over its good requests. A side's figure is the geometric mean of its lives.
Head ÷ baseline is the ratio of the two. Life k of the head and of the baseline ran one
after the other in one lane, so both sides met each lane alike and what a lane does to a
count cancels in the ratio. The test is Student's two-sample t on the logs of the lives
(pooled spread, df = lives_head + lives_base - 2), not the paired t: at three lives a side
the paired test's 2 degrees of freedom cost more (a detectable change of 1.7% to 2.4% for
fastapi-async in two identical-code runs, against 0.8% and 1.9% unpaired) than the lanes'
difference it would remove (docs/measurements.md). The smallest detectable change is what
that test detects at 80% power (bench.analysis.power), at alpha 0.05. The verdict: *rose*
or *fell* when the test is significant and the change exceeds the threshold, which the user
sets or which is, by default, the cell's smallest detectable change, never below
MIN_THRESHOLD.
"""

import math
import statistics
from dataclasses import dataclass
from typing import Literal

from scipy import stats as scipy_stats

from bench.analysis import power
from bench.model.counts import Counted
from bench.model.results import Run
from bench.plan.matrix import SIDE

ALPHA = 0.05
# Two lives of identical code differ by up to 0.3% (fastapi-async) to 0.7% (axum) over 200
# requests (docs/measurements.md): a default threshold below that would flag noise.
MIN_THRESHOLD = 0.005

Direction = Literal["rose", "fell", "same", "unknown"]


@dataclass(frozen=True)
class Side:
    """One side's lives: instructions per request, each a server life."""

    lives: tuple[float, ...]

    @property
    def per_request(self) -> float | None:
        """The geometric mean over lives (None without a life)."""
        if not self.lives:
            return None
        return math.exp(statistics.fmean(math.log(v) for v in self.lives))

    @property
    def spread(self) -> float | None:
        """The sample standard deviation of the lives' logs (≈ their CV); None below two."""
        if len(self.lives) < 2:
            return None
        return statistics.stdev(math.log(v) for v in self.lives)


def side(counted: Counted) -> Side:
    """A counted cell's lives."""
    return Side(tuple(c.per_request for c in counted.lives))


def database_side(counted: Counted) -> Side:
    """A counted cell's database instructions per request, over the lives that counted them."""
    return Side(tuple(c.database.per_request for c in counted.lives if c.database))


@dataclass(frozen=True)
class CountPair:
    """A variant's head ÷ baseline of server instructions per request."""

    variant: str
    label: str
    head: Side
    baseline: Side
    ratio: float | None
    p: float | None  # Student's two-sample t on the logs
    detectable: float | None  # the smallest ratio (> 1) detected at 80% power
    threshold: float | None  # a fraction: 0.01 flags beyond x1.01 and x1/1.01
    direction: Direction
    error: str | None = None
    database: tuple[Side, Side] = (Side(()), Side(()))  # head, baseline; no verdict

    @property
    def flagged(self) -> bool:
        """Whether the count moved beyond the threshold, significantly."""
        return self.direction in ("rose", "fell")

    @property
    def database_ratio(self) -> float | None:
        """head ÷ baseline of database instructions per request (None unless both counted)."""
        head, base = (s.per_request for s in self.database)
        return head / base if head is not None and base is not None else None


def pairs(run: Run, threshold_pct: float | None = None) -> list[CountPair]:
    """Each counted head beside its baseline, judged against `threshold_pct` (a percentage;
    None: the cell's own smallest detectable change, at least MIN_THRESHOLD)."""
    given = threshold_pct if threshold_pct is not None else run.count_threshold_pct
    by_key = {(c.variant, c.params): c for c in run.counts}
    found = []
    for counted in run.counts:
        if counted.variant.endswith(SIDE):
            continue
        base = by_key.get((counted.variant + SIDE, counted.params))
        if base is not None:
            found.append(judge(counted, base, None if given is None else given / 100))
    return found


def judge(head: Counted, base: Counted, threshold: float | None) -> CountPair:
    """head ÷ baseline of one counted cell, its test, detectable change and verdict."""
    h, b = side(head), side(base)
    label = head.params.label()
    error = head.error or base.error
    db = (database_side(head), database_side(base))
    if h.per_request is None or b.per_request is None or error:
        return CountPair(
            head.variant, label, h, b, None, None, None, threshold, "unknown", error, db
        )
    ratio = h.per_request / b.per_request
    p, detectable = _test(h, b)
    if threshold is None and detectable is not None:
        threshold = max(detectable - 1, MIN_THRESHOLD)
    direction: Direction = "unknown" if threshold is None or p is None else "same"
    if threshold is not None and p is not None and p < ALPHA and abs(ratio - 1) > threshold:
        direction = "rose" if ratio > 1 else "fell"
    return CountPair(
        head.variant, label, h, b, ratio, p, detectable, threshold, direction, database=db
    )


def _test(h: Side, b: Side) -> tuple[float | None, float | None]:
    """Student's two-sample t-test on the logs of the lives: p and the detectable ratio (None
    with fewer than three lives in all, or no spread at all)."""
    df = len(h.lives) + len(b.lives) - 2
    if df < 1:
        return None, None
    logs_h = [math.log(v) for v in h.lives]
    logs_b = [math.log(v) for v in b.lives]
    mean_h, mean_b = statistics.fmean(logs_h), statistics.fmean(logs_b)
    ss = sum((x - mean_h) ** 2 for x in logs_h) + sum((x - mean_b) ** 2 for x in logs_b)
    se = math.sqrt(ss / df) * math.sqrt(1 / len(logs_h) + 1 / len(logs_b))
    diff = mean_h - mean_b
    if se == 0:
        return (0.0 if diff else 1.0), 1.0
    p = float(scipy_stats.ttest_ind(logs_h, logs_b).pvalue)
    return p, math.exp(power.detectable(se, df, ALPHA))


def regressions(found: list[CountPair]) -> list[CountPair]:
    """The cells whose count rose beyond their threshold, significantly: the gate's failures."""
    return [p for p in found if p.direction == "rose"]


def depends_on(run: Run) -> dict[str, object]:
    """What a run's counts depend on besides the code: the CPU's flags and the versions of
    valgrind, the C library, Python, rustc and Postgres (whose answers the drivers parse, and
    whose backends the database's count counts), and whether the database ran under valgrind
    (its slower answers move the servers' counts); None where a run did not record one."""
    meta = run.metadata
    return {
        "CPU flags": meta.cpu.flags,
        "valgrind": meta.tools.get("valgrind"),
        "the C library": meta.host.libc,
        "Python": meta.host.python,
        "rustc": meta.tools.get("rustc"),
        "Postgres": meta.tools.get("postgres"),
        "the database under valgrind": any(c.database_command for c in run.counts),
    }


def mismatch(a: Run, b: Run) -> str | None:
    """Why the counts of two runs cannot be compared (what they depend on differs), or None."""
    first, second = depends_on(a), depends_on(b)
    for what, value in first.items():
        other = second[what]
        if value is None or other is None:
            return f"{what} not recorded in {a.run_id if value is None else b.run_id}"
        if value != other:
            if isinstance(value, bool):  # the run that did, named
                return f"{what} in {(a if value else b).run_id} only (--count-database)"
            if isinstance(value, list) and isinstance(other, list):
                only = sorted(set(value) ^ set(other))
                shown = ", ".join(only[:5]) + (" ..." if len(only) > 5 else "")
                return f"{what} differ ({shown})"
            return f"{what} differ ({value} and {other})"
    return None


def across(a: Run, b: Run, threshold_pct: float | None = None) -> list[CountPair]:
    """B ÷ A of each variant both runs counted under the same cell, judged as head ÷
    baseline; the machine's move plays no part (counts are not timed)."""
    by_key = {(c.variant, c.params): c for c in a.counts}
    threshold = None if threshold_pct is None else threshold_pct / 100
    return [
        judge(counted, by_key[(counted.variant, counted.params)], threshold)
        for counted in b.counts
        if (counted.variant, counted.params) in by_key
    ]


@dataclass(frozen=True)
class Moved:
    """One function's own instructions per request on both sides (mean over lives)."""

    function: str
    head: float
    baseline: float

    @property
    def change(self) -> float:
        """head - baseline, instructions per request."""
        return self.head - self.baseline


def per_request_functions(counted: Counted) -> dict[str, float]:
    """Each kept function's own instructions per request, averaged over the lives (0 in a
    life that did not keep it among its costliest)."""
    lives = [c for c in counted.lives if c.functions]
    total: dict[str, float] = {}
    for life in lives:
        for name, instructions in life.functions.items():
            total[name] = total.get(name, 0.0) + instructions / life.requests
    return {name: value / len(lives) for name, value in total.items()}


def moved(head: Counted, base: Counted, top: int = 10) -> list[Moved]:
    """The `top` functions whose own instructions per request changed most between head and
    baseline, largest change first (none when a side kept no functions)."""
    h, b = per_request_functions(head), per_request_functions(base)
    if not h or not b:
        return []
    found = [Moved(name, h.get(name, 0.0), b.get(name, 0.0)) for name in h.keys() | b.keys()]
    return sorted(found, key=lambda m: -abs(m.change))[:top]


def counted_pairs(run: Run) -> list[tuple[Counted, Counted]]:
    """Each counted head with its baseline, in run order."""
    by_key = {(c.variant, c.params): c for c in run.counts}
    return [
        (c, by_key[(c.variant + SIDE, c.params)])
        for c in run.counts
        if not c.variant.endswith(SIDE) and (c.variant + SIDE, c.params) in by_key
    ]
