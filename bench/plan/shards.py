"""Shards: N deterministic slices of a plan, balanced by estimated time rather than by count.

A shard holds whole comparison groups: cells the report compares with each other run in one
shard, so on one machine, in one run (CI runs each shard on its own runner).
"""

import re

from bench.errors import UsageError
from bench.model.plan import CellSpec, Plan, Shard, by_axes
from bench.plan.matrix import Variant, head
from bench.plan.profiles import estimate, total_estimate


def parse(text: str) -> tuple[int, int]:
    """ "2/3" -> (2, 3); anything else is a UsageError."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(f"--shard {text!r} is not I/N with 1 <= I <= N; write e.g. --shard 2/3")
    return int(match[1]), int(match[2])


def groups(plan: Plan) -> list[list[CellSpec]]:
    """The plan's comparison groups, each in plan order, ordered by their first cell.

    One group holds, transitively: the cells of one load shape of a sweep, the report's notion
    (`by_axes` over the axes the sweep varies, so every variant of the shape, whatever its
    variant-specific axes); an open-loop cell and the closed-loop cell its rate comes from;
    a side of a comparison ("axum@baseline") and its head cell ("axum", same parameters).
    Cells are grouped by their shape, never by their variant.
    """
    parent = {c.id: c.id for c in plan.cells}

    def root(cell_id: str) -> str:
        while parent[cell_id] != cell_id:
            cell_id = parent[cell_id]
        return cell_id

    def link(a: str, b: str) -> None:
        if b in parent:
            first, second = sorted((root(a), root(b)), key=order.__getitem__)
            parent[second] = first  # the earlier cell stays the root: a stable order

    order = {c.id: i for i, c in enumerate(plan.cells)}
    by_id = {c.id: c for c in plan.cells}
    for sweep in plan.sweeps:
        varying = {a: v for a, v in sweep.axes.items() if len(v) > 1}
        cells = [by_id[i] for i in sweep.cells if i in by_id]
        for shape in by_axes(cells, varying).values():
            for cell in shape[1:]:
                link(shape[0].id, cell.id)
    for cell in plan.cells:
        link(cell.id, CellSpec(variant=cell.variant, params=cell.params.closed()).id)
        link(cell.id, CellSpec(variant=head(cell.variant), params=cell.params).id)
    found: dict[str, list[CellSpec]] = {}
    for cell in plan.cells:
        found.setdefault(root(cell.id), []).append(cell)
    return list(found.values())


def split(plan: Plan, count: int, variants: dict[str, Variant]) -> list[Shard]:
    """The plan's comparison groups (`groups`) in `count` shards: longest first onto the
    least-loaded shard (LPT).

    Ties go to the lower shard and the earlier group, so every machine computes the same
    split; within a shard, cells keep plan order.
    """
    members = groups(plan)
    if not 1 <= count <= len(members):
        most = len(members)
        allowed = "1 shard" if most == 1 else f"1 to {most} shards"
        raise UsageError(
            f"cannot split a plan of {most} comparison group{'s' * (most > 1)} into {count} "
            f"shards; use {allowed} (a shard runs every variant of a load shape, with its "
            "open-loop cells)"
        )
    costs = [sum(estimate(c, variants, plan.measure) for c in g) for g in members]
    loads = [0.0] * count
    owner: dict[str, int] = {}
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        shard = min(range(count), key=lambda s: (loads[s], s))
        loads[shard] += costs[i]
        owner |= {c.id: shard for c in members[i]}
    return [
        Shard(index=s + 1, count=count, cells=[c.id for c in plan.cells if owner[c.id] == s])
        for s in range(count)
    ]


def select(plan: Plan, index: int, count: int, variants: dict[str, Variant]) -> Plan:
    """The plan restricted to shard `index` of `count`."""
    return plan.model_copy(update={"shard": split(plan, count, variants)[index - 1]})


def listing(plan: Plan, count: int, variants: dict[str, Variant]) -> list[dict[str, object]]:
    """What `--list-shards N` prints: one entry per shard, for a CI job matrix."""
    out: list[dict[str, object]] = []
    members = groups(plan)
    for shard in split(plan, count, variants):
        wanted = set(shard.cells)
        cells = [c for c in plan.cells if c.id in wanted]
        seconds = total_estimate(cells, variants, plan.measure)
        out.append(
            {
                "shard": f"{shard.index}/{count}",
                "groups": sum(g[0].id in wanted for g in members),
                "cells": len(cells),
                "estimate_s": round(seconds),
            }
        )
    return out
