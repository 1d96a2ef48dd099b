"""The database across a network: each namespace cell's throughput against its database round
trip, and the bound its pool sets.

A connection carries one query at a time, and each query holds it for at least the round trip
to the database plus the database's own time for the query. So `pool` connections carry at
most pool ÷ (round trip + service time) queries per second, whatever the stack. Both numbers
are the cell's own: the round trip measured from inside the namespaces before its load (the
median over its repeats), and the service time is the database's CPU per request (the
sampled postmaster tree) in the same variant's cell at zero added delay (the cell's own when
that one is missing), the query's cost when nothing is far away.
"""

import statistics
from dataclasses import dataclass

from bench.analysis import efficiency, stats
from bench.analysis.stats import Summary
from bench.model.results import Cell, Run
from bench.plan.topology import pool_bound_rps

HELD = 0.8  # a cell at or above this share of its bound is held back by its pool


@dataclass(frozen=True)
class Point:
    """One namespace cell, measured: its round trips, throughput and its pool's bound."""

    cell: Cell
    connections: int  # workers x (pool + overflow)
    configured_ms: float  # the database round trip added
    measured_ms: float | None  # the database link's round trip as measured (median)
    http_configured_ms: float
    http_measured_ms: float | None
    rps: Summary
    service_ms: float | None  # the database's CPU per request at zero added delay
    bound_rps: float | None

    @property
    def share(self) -> float | None:
        """Throughput ÷ the bound (None without a bound)."""
        return self.rps.median / self.bound_rps if self.bound_rps else None

    @property
    def held(self) -> bool:
        """Whether the pool holds it back: its throughput at HELD or more of its bound."""
        return self.share is not None and self.share >= HELD


def measured_rtt_ms(cell: Cell, link: str) -> float | None:
    """The median over the cell's repeats of `link`'s round trip measured before the load."""
    values = [r.rtt_ms[link] for r in cell.repeats if r.rtt_ms and link in r.rtt_ms]
    return statistics.median(values) if values else None


def _twin_at_zero(cell: Cell, cells: list[Cell]) -> Cell:
    """The same variant and parameters at zero added database delay (the cell itself if none
    was measured)."""
    zero = cell.params.model_copy(update={"db_rtt_ms": 0.0})
    found = [c for c in cells if c.variant == cell.variant and c.params == zero and c.ok]
    return found[0] if found else cell


def points(run: Run) -> list[Point]:
    """Every measured closed-loop namespace cell, in plan order."""
    cells = [c for c in run.cells if c.params.net == "namespaces" and c.params.mode == "closed"]
    found = []
    for cell in (c for c in cells if c.ok):
        rps = stats.summarize([r.load.rps for r in cell.repeats])
        service = efficiency.median_cpu_ms(_twin_at_zero(cell, cells), "database")
        rtt = measured_rtt_ms(cell, "db")
        connections = cell.params.connections()
        bound = None
        if service is not None and rtt is not None:
            bound = pool_bound_rps(connections, rtt, service)
        found.append(
            Point(
                cell=cell,
                connections=connections,
                configured_ms=cell.params.db_rtt_ms or 0.0,
                measured_ms=rtt,
                http_configured_ms=cell.params.http_rtt_ms or 0.0,
                http_measured_ms=measured_rtt_ms(cell, "http"),
                rps=rps,
                service_ms=service,
                bound_rps=bound,
            )
        )
    return found


def series(found: list[Point]) -> dict[tuple[str, int, float], list[Point]]:
    """The points by (variant, connections, client round trip), each sorted by round trip."""
    groups: dict[tuple[str, int, float], list[Point]] = {}
    for point in found:
        key = (point.cell.variant, point.connections, point.http_configured_ms)
        groups.setdefault(key, []).append(point)
    return {k: sorted(v, key=lambda p: p.configured_ms) for k, v in groups.items()}


def ratio_at(found: list[Point], top: str, bottom: str, rtt_ms: float) -> float | None:
    """`top`'s median throughput ÷ `bottom`'s at a database round trip of `rtt_ms`, both with
    the same pool and client round trip (the first such pair in plan order)."""
    for a in (p for p in found if p.cell.variant == top and p.configured_ms == rtt_ms):
        for b in (p for p in found if p.cell.variant == bottom and p.configured_ms == rtt_ms):
            same = (a.connections, a.http_configured_ms) == (b.connections, b.http_configured_ms)
            if same:
                return stats.ratio(a.rps.median, b.rps.median)
    return None


def loopback_twin(point: Point, run: Run) -> Cell | None:
    """The loopback cell of the same variant and load (to compare at zero added delay)."""
    wanted = point.cell.params.model_copy(
        update={"net": "loopback", "db_rtt_ms": None, "http_rtt_ms": None}
    )
    return next(
        (c for c in run.cells if c.variant == point.cell.variant and c.params == wanted), None
    )
