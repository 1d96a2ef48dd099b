"""Does this run reproduce the published story? Ratios between stacks, with verdicts.

Absolute numbers belong to their machine; ratios between stacks measured on one machine
travel. For each published run (reports/published/published.toml) with at least two rows
this run has cells for, every pair of rows gives a ratio per figure (throughput, p50, p99,
p99.9, peak memory): the published one, this run's with an interval, and a verdict.

- A row's cell: a measured closed-loop cell of the row's variants (the published variant
  first, then the fair one) at 100 rows and the row's workers, closest to the published
  load shape; how it differs from the published setting is recorded.
- A figure: the median over the cell's repeats of each repeat's value (its own latency
  histogram's percentile, its server's peak RSS).
- This run's ratio: the numerator's median over the denominator's; throughput is the faster
  stack's over the slower one's, latency and memory the other way round, so that every
  ratio says how many times better the better stack is. Its interval comes from
  the ends of the two Student-t 95% intervals (low / high, high / low): conservative, wider
  than 95%; a single repeat has none.
- Verdict: reproduced when the published ratio lies inside that interval (or at the point,
  with one repeat) widened by TOLERANCE either way, for what differs between machines;
  otherwise the size and direction of the difference, with the reasons the run knows. None
  when the two cells were measured in different runs (shards of a merged run): a ratio
  between two machines, or two moments of one, says nothing about the stacks.
"""

import dataclasses
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.analysis import ceilings, latency, stats
from bench.model.plan import DEFAULT_LIMIT, axis_value
from bench.model.published import PublishedRun
from bench.model.results import Cell, Repeat, Run, runs_of

TOLERANCE = 0.25
PAIRS = (("axum", "fastapi"), ("fastapi-async", "fastapi"), ("axum", "fastapi-async"))


def _server_rss(repeat: Repeat) -> float | None:
    usage = repeat.usage.get("server")
    return usage.peak_rss_mib if usage else None


FIGURES: dict[str, tuple[str, Callable[[Repeat], float | None]]] = {
    "rps": ("throughput", lambda r: r.load.rps),
    "p50_ms": ("p50", lambda r: latency.repeat_ms(r, "p50")),
    "p99_ms": ("p99", lambda r: latency.repeat_ms(r, "p99")),
    "p999_ms": ("p99.9", lambda r: latency.repeat_ms(r, "p99.9")),
    "memory_mib": ("peak memory", _server_rss),
}
LATENCIES = ("p50_ms", "p99_ms", "p999_ms")


@dataclass(frozen=True)
class Match:
    """The cell of this run that stands for a published row, and how it differs from it."""

    row: str
    cell: Cell
    differences: list[str]


def values(cell: Cell, name: str) -> list[float]:
    """Each repeat's value of `name` (a key of FIGURES)."""
    measure = FIGURES[name][1]
    return [v for v in map(measure, cell.repeats) if v is not None]


def figure(cell: Cell, name: str) -> float | None:
    """The median over repeats of `name` (a key of FIGURES); None without values."""
    found = values(cell, name)
    return statistics.median(found) if found else None


def match(run: Run, source: PublishedRun, row: str) -> Match | None:
    """The cell standing for published `row`, or None when the run has none."""
    spec = source.rows[row]
    candidates = [
        c
        for c in run.cells
        if c.ok
        and c.params.mode == "closed"
        and c.variant in spec.variants
        and c.params.limit == DEFAULT_LIMIT
        and (c.params.workers or 1) == spec.workers
    ]
    if not candidates:
        return None

    def distance(c: Cell) -> tuple[int, bool, bool, int]:
        return (
            spec.variants.index(c.variant),
            source.keepalive is not None and c.params.keepalive != source.keepalive,
            source.concurrency is not None and c.params.concurrency != source.concurrency,
            c.params.concurrency,
        )

    cell = min(candidates, key=distance)
    return Match(row, cell, _differences(source, spec.variants[0], cell))


def _differences(source: PublishedRun, published_variant: str, cell: Cell) -> list[str]:
    out = []
    if cell.variant != published_variant:
        said = cell.server.reported if cell.server else {}
        runtime = " + ".join(str(said[k]) for k in ("loop", "http") if k in said)
        out.append(
            f"{cell.variant} is the fair variant ({runtime or 'its own runtime'}, a strict pool "
            f"of {cell.params.pool}), not {published_variant} as published "
            "(`--profile seed-exact` runs that)"
        )
    if source.concurrency is not None and cell.params.concurrency != source.concurrency:
        out.append(f"c={cell.params.concurrency}, published c={source.concurrency}")
    if source.keepalive is not None and cell.params.keepalive != source.keepalive:
        ours, theirs = (axis_value(v) for v in (cell.params.keepalive, source.keepalive))
        out.append(f"keepalive {ours}, published {theirs}")
    return out


@dataclass(frozen=True)
class Ratio:
    """One published ratio beside this run's, and the verdict."""

    numerator: str
    denominator: str
    figure: str
    published: float
    ours: float
    low: float | None  # this run's interval (None: a single repeat)
    high: float | None
    reasons: list[str]
    runs: tuple[str, ...] = ()  # the two cells' runs when they differ: no verdict

    @property
    def judged(self) -> bool:
        """Whether the ratio gets a verdict: both cells were measured in one run."""
        return not self.runs

    @property
    def reproduced(self) -> bool:
        """Whether the published ratio lies within the interval widened by TOLERANCE."""
        low = self.ours if self.low is None else self.low
        high = self.ours if self.high is None else self.high
        return low / (1 + TOLERANCE) <= self.published <= high * (1 + TOLERANCE)

    @property
    def difference(self) -> float:
        """This run's ratio relative to the published one: -0.34 is 34% smaller."""
        return self.ours / self.published - 1

    def verdict(self) -> str:
        """ "reproduced", or "not reproduced: 34% smaller (same ordering)"; "no verdict: ..."
        for cells of different runs."""
        if not self.judged:
            return "no verdict: measured in different runs"
        if self.reproduced:
            return "reproduced"
        size = f"{abs(self.difference):.0%} {'larger' if self.difference > 0 else 'smaller'}"
        same = (self.ours > 1) == (self.published > 1)
        return f"not reproduced: {size} ({'same ordering' if same else 'ordering reversed'})"


def ratio(
    numerator: Cell, denominator: Cell, name: str
) -> tuple[float, float | None, float | None]:
    """This run's ratio of `name` (a key of FIGURES) and its conservative interval."""
    top, bottom = values(numerator, name), values(denominator, name)
    point = statistics.median(top) / statistics.median(bottom)
    if len(top) < 2 or len(bottom) < 2:
        return point, None, None
    a, b = stats.summarize(top), stats.summarize(bottom)
    assert a.ci_low is not None and a.ci_high is not None  # n >= 2
    assert b.ci_low is not None and b.ci_high is not None
    low = max(a.ci_low, 0.0) / b.ci_high if b.ci_high > 0 else 0.0
    high = a.ci_high / b.ci_low if b.ci_low > 0 else math.inf
    return point, low, high


@dataclass(frozen=True)
class Reproduction:
    """A published run, the cells standing for its rows, and every ratio."""

    name: str
    source: PublishedRun
    matches: dict[str, Match]
    ratios: list[Ratio]


def reproduce(run: Run, published: dict[str, PublishedRun]) -> list[Reproduction]:
    """The published runs this run can be compared with (two rows or more matched)."""
    out = []
    for name, source in published.items():
        matches = {row: m for row in source.rows if (m := match(run, source, row))}
        ratios = [
            r
            for a, b in PAIRS
            if a in matches and b in matches
            for f in FIGURES
            if (r := _ratio(run, source, matches[a], matches[b], f))
        ]
        if ratios:
            out.append(Reproduction(name, source, matches, ratios))
    return out


def _ratio(run: Run, source: PublishedRun, a: Match, b: Match, name: str) -> Ratio | None:
    if name != "rps":  # lower is better: the slower stack's over the faster one's
        a, b = b, a
    published = source.ratio(name, a.row, b.row)
    if published is None or not values(a.cell, name) or not figure(b.cell, name):
        return None
    runs = runs_of([a.cell, b.cell])
    found = Ratio(a.row, b.row, name, published, *ratio(a.cell, b.cell, name), reasons=[])
    if len(runs) > 1:
        return dataclasses.replace(found, runs=tuple(runs))
    if found.reproduced:
        return found
    return dataclasses.replace(found, reasons=_reasons(run, source, a, b, name))


def _reasons(run: Run, source: PublishedRun, a: Match, b: Match, name: str) -> list[str]:
    """What this run knows that may explain a ratio it did not reproduce, beyond how its
    cells differ from the published setting (Match.differences)."""
    if name == "memory_mib":
        return [
            "memory here is the peak RSS of the server's process tree, sampled; the "
            "published figures were read off a process monitor",
        ]
    plan = run.metadata.pinning.plan if run.metadata.pinning else {}
    count = run.metadata.cpu.logical or 1
    reasons = []
    for m in (a, b):
        bound = ceilings.binding(m.cell, plan, count)
        if bound is None or bound.resource.roles == ("server",):  # the server's own CPUs
            continue
        if bound.resource.roles:
            what = f"bound by {bound.resource.text()}"
        else:
            what = "no CPU was saturated"
        reasons.append(f"{m.cell.variant}'s server CPU was not the limit: {what}")
    throughput = _ratio(run, source, b, a, "rps") if name in LATENCIES else None
    if throughput and not throughput.reproduced and source.concurrency is not None:
        reasons.append(
            f"at a fixed concurrency (c={source.concurrency}), latency follows throughput "
            "(Little's law): see the throughput ratio"
        )
    return reasons
