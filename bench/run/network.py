"""The topology of a run's namespace cells: checked before anything is built, made once per
run (three namespaces, two links, a Postgres cluster of its own in the database's namespace),
and set for each cell (the links' added round trips, measured from inside before the load).

Loopback cells use the run's loopback database as before; both clusters are pinned alike and
seeded alike. The namespaces and the cluster go when the run ends, however it ends (and at
the next start after a SIGKILL: `bench.load.leftovers`).
"""

import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bench.errors import BenchError, UsageError
from bench.load import netns
from bench.model.plan import CellSpec, Params, Plan, Skip, Sweep
from bench.model.provider import Provider
from bench.plan.topology import Topology, namespaces
from bench.sut import database


@dataclass(frozen=True)
class Placement:
    """A run's namespaces and the database that runs in one of them."""

    topology: Topology
    db: database.Database

    def cell(self, params: Params) -> Topology:
        """The topology of a cell: its round trips set on the links and measured from inside."""
        topology = self.topology.delayed(params.db_rtt_ms or 0.0, params.http_rtt_ms or 0.0)
        for link in topology.links:
            netns.delay(link)
        return topology


def cell(
    placement: Placement | None, params: Params
) -> tuple[Placement, Topology, dict[str, float]]:
    """A namespace cell's placement, its topology (round trips set) and the round trip of
    each link as measured from inside."""
    if placement is None:
        raise BenchError("no namespaces were made for this run")
    topology = placement.cell(params)
    return placement, topology, measured(topology)


def measured(topology: Topology) -> dict[str, float]:
    """Each link's round trip (ms), measured from inside the namespaces."""
    return {link.name: round(netns.round_trip_ms(link), 4) for link in topology.links}


def _namespaced(spec: CellSpec) -> bool:
    return spec.params.net == "namespaces"


def _delayed(spec: CellSpec) -> bool:
    return bool(spec.params.db_rtt_ms or spec.params.http_rtt_ms)


def preflight(plan: Plan, provider: Provider | None) -> Plan:
    """Refuse namespace cells this machine cannot run, in one line (not root, no ip or tc, an
    external database); the cells with an added round trip on a kernel without netem become
    skips naming the reason. Returns the plan as it will run."""
    if not any(_namespaced(c) for c in plan.cells):
        return plan
    if reason := netns.missing():
        raise UsageError(reason)
    if provider == "external":
        raise UsageError(
            "--db external stays where it is: net = namespaces needs a local cluster "
            "(--db embedded or system), or use --net loopback"
        )
    if not any(_delayed(c) for c in plan.cells) or not (reason := netns.netem_missing()):
        return plan
    return skip(plan, _delayed, reason)


def skip(plan: Plan, drop: Callable[[CellSpec], bool], reason: str) -> Plan:
    """The plan without the cells `drop` picks, each listed as a skip with `reason`."""
    gone = [c for c in plan.cells if drop(c)]
    if len(gone) == len(plan.cells):
        raise UsageError(f"every cell of this plan needs an added round trip, and {reason}")
    ids = {c.id for c in gone}
    skips = [Skip(variant=c.variant, axes=_axes(c.params), reason=reason) for c in gone]
    sweeps = [
        Sweep(name=s.name, axes=s.axes, cells=[i for i in s.cells if i not in ids])
        for s in plan.sweeps
    ]
    cells = [c for c in plan.cells if c.id not in ids]
    return plan.model_copy(update={"cells": cells, "sweeps": sweeps, "skips": plan.skips + skips})


def _axes(params: Params) -> dict[str, object]:
    return params.model_dump(exclude={"mode", "rate"}, exclude_none=True)


@contextmanager
def placed(
    cells: Sequence[CellSpec], provider: Provider | None, cpus: Collection[int] | None
) -> Iterator[Placement | None]:
    """The run's namespaces and their database, if any of `cells` runs in namespaces."""
    if not any(_namespaced(c) for c in cells):
        yield None
        return
    topology = namespaces(str(os.getpid()))
    with (
        netns.built(topology),
        database.provision(provider, cpus=cpus, place=topology.database) as db,
    ):
        yield Placement(topology, db)
