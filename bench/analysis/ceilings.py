"""What limited a cell: the ceilings of the run and the CPU that was saturated.

- `headroom`: the HTTP ceiling (oha against an in-memory route) over the fastest
  database-backed cell of the same load shape; below 2 the load generator may be the limit.
- `binding`: from a cell's sampled CPU use and the run's CPU plan, the CPU set that was
  (nearly) saturated, named by the roles pinned to it; roles sharing CPUs are added up.
"""

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from bench.model.results import Cell, Probe, Run
from bench.model.roles import NAMES, ROLES, Role

SATURATED = 0.9  # a CPU set at 90% of its capacity or more bound the cell
MIN_HEADROOM = 2.0  # the load generator should reach at least twice the fastest cell


def probe(run: Run, name: str) -> Probe | None:
    """The run's first successful probe called `name` (shards each run their own)."""
    return next((p for p in run.probes if p.name == name and not p.error and p.values), None)


def rps(cell: Cell) -> float | None:
    """A measured cell's median throughput (None for a failed cell)."""
    return statistics.median(r.load.rps for r in cell.repeats) if cell.ok else None


@dataclass(frozen=True)
class Headroom:
    """The HTTP ceiling over the fastest database-backed cell at the same load shape."""

    ceiling_rps: float
    fastest_rps: float
    fastest: str  # "variant (label)"
    oha_threads: int | None

    @property
    def ratio(self) -> float:
        """How many times the fastest cell the load generator reached."""
        return self.ceiling_rps / self.fastest_rps

    @property
    def enough(self) -> bool:
        """Whether the load generator had at least MIN_HEADROOM."""
        return self.ratio >= MIN_HEADROOM


def headroom(run: Run) -> Headroom | None:
    """The headroom check, or None without an HTTP ceiling or a comparable measured cell."""
    http = probe(run, "http")
    if http is None or "rps" not in http.values:
        return None
    shape = (http.values.get("concurrency"), http.values.get("keepalive"))
    measured = [(v, c) for c in run.cells if (v := rps(c)) is not None]
    same = [(v, c) for v, c in measured if (c.params.concurrency, c.params.keepalive) == shape]
    if not (candidates := same or measured):
        return None
    value, cell = max(candidates, key=lambda vc: vc[0])
    threads = int(http.values.get("oha_threads", 0)) or None
    return Headroom(http.values["rps"], value, f"{cell.variant} ({cell.label})", threads)


def share_of_database(cell: Cell, run: Run) -> float | None:
    """The cell's throughput as a fraction of the database ceiling (pgbench tps)."""
    db, value = probe(run, "database"), rps(cell)
    if db is None or value is None or not db.values.get("tps"):
        return None
    return value / db.values["tps"]


@dataclass(frozen=True)
class Resource:
    """A set of CPUs, named by the roles that ran on it (roles pinned to the same CPUs share
    one set); as what bound a cell, no roles: no CPU set was saturated."""

    roles: tuple[Role, ...] = ()

    def text(self) -> str:
        """As the report names it: "server CPU", "database + load generator CPU", "none"."""
        return " + ".join(NAMES[r] for r in self.roles) + " CPU" if self.roles else "none"


@dataclass(frozen=True)
class Binding:
    """The saturated CPU set of a cell (or none) and each set's use of its capacity."""

    resource: Resource  # the saturated CPU set; Resource() when none was
    use: dict[Resource, float]  # CPU set -> fraction of its capacity (1.0 = all its CPUs)


def binding(cell: Cell, plan: Mapping[Role, list[int] | None], cpu_count: int) -> Binding | None:
    """Which CPU bound `cell`: the busiest CPU set at SATURATED or more of its capacity.

    `plan` is the run's CPU plan (role -> CPUs, None when not pinned); unpinned roles share
    all `cpu_count` CPUs. Uses the median CPU use of each role over the cell's repeats.
    """
    if not cell.ok:
        return None
    groups: dict[tuple[int, ...], list[Role]] = {}
    for role in ROLES:
        pinned = plan.get(role)
        groups.setdefault(tuple(pinned) if pinned else tuple(range(cpu_count)), []).append(role)
    use: dict[Resource, float] = {}
    for cpus, roles in groups.items():
        busy = 0.0
        for role in roles:
            samples = [r.usage[role].cpu_mean_pct for r in cell.repeats if role in r.usage]
            busy += statistics.median(samples) if samples else 0.0
        use[Resource(tuple(roles))] = busy / (100.0 * len(cpus))
    busiest, most = max(use.items(), key=lambda kv: kv[1])
    return Binding(busiest if most >= SATURATED else Resource(), use)
