"""How far the machine moved between two runs, read from what both runs measured the same
way whatever the code under test: the machine canary on each pinned CPU, the database
ceiling (pgbench running the endpoint's query) and the HTTP ceiling (oha against the Rust
server's in-memory route). A change between the runs no larger than these moves cannot be
told from the machine; only measuring both sides in one run (`--baseline`) can. The
yardsticks rarely agree (two default runs of one commit, minutes apart, on the 2-CPU VM:
canaries -19% and -30%, ceilings -29% and -34%), so the bound a change must clear is predicted
from their spread, not taken from any one of them.
"""

import math
import statistics
from dataclasses import dataclass

from bench.analysis import canary, ceilings, stats
from bench.model.results import Run


@dataclass(frozen=True)
class Yardstick:
    """One thing both runs measured alike, and how its speed moved from run A to run B."""

    name: str  # "canary CPU 0", "database ceiling", "HTTP ceiling"
    change: float  # B's speed over A's, minus one (+0.08: 8% faster in B)


@dataclass(frozen=True)
class Drift:
    """The machine's move between two runs, as its yardsticks saw it."""

    yardsticks: tuple[Yardstick, ...]

    @property
    def pct(self) -> float:
        """The largest move, in percent (either direction)."""
        return max(abs(y.change) for y in self.yardsticks) * 100

    @property
    def bound_pct(self) -> float:
        """How far the machine could have moved a workload measured alike, in percent: the
        yardsticks disagree (each loads the machine its own way), so a cell's own move is
        predicted from theirs, with a 95% prediction interval (mean ± t·s·√(1 + 1/n)); never
        less than the largest move seen."""
        moves = [y.change for y in self.yardsticks]
        if len(moves) < 2:
            return self.pct
        spread = statistics.stdev(moves) * math.sqrt(1 + 1 / len(moves))
        reach = abs(statistics.fmean(moves)) + stats.t_quantile(len(moves) - 1) * spread
        return max(self.pct, reach * 100)


CEILINGS = {  # probe -> (its speed, the settings that must match for the two to compare)
    "database": ("tps", ("clients", "limit")),
    "http": ("rps", ("concurrency", "keepalive")),
}


def between(a: Run, b: Run) -> Drift | None:
    """The yardsticks both runs hold (None when they share none: older runs, no canary)."""
    found = _canaries(a, b) + [y for name in CEILINGS if (y := _ceiling(a, b, name))]
    return Drift(tuple(found)) if found else None


def _ceiling(a: Run, b: Run, name: str) -> Yardstick | None:
    """A ceiling both runs measured with the same settings, as a yardstick."""
    speed, settings = CEILINGS[name]
    pa, pb = ceilings.probe(a, name), ceilings.probe(b, name)
    if pa is None or pb is None or pa.error or pb.error:
        return None
    if not (pa.values.get(speed) and pb.values.get(speed)):
        return None
    if any(pa.values.get(k) != pb.values.get(k) for k in settings):
        return None
    title = "HTTP ceiling" if name == "http" else "database ceiling"
    return Yardstick(title, pb.values[speed] / pa.values[speed] - 1)


def _canaries(a: Run, b: Run) -> list[Yardstick]:
    """Each CPU canaried in both runs: its median time in A over its median in B, minus one."""
    ma = {s.cpu: s.median_ms for s in canary.speeds(a)}
    mb = {s.cpu: s.median_ms for s in canary.speeds(b)}
    return [Yardstick(f"canary CPU {cpu}", ma[cpu] / mb[cpu] - 1) for cpu in ma if cpu in mb]
