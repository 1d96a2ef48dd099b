"""Shards: N deterministic slices of a plan, balanced by estimated time rather than by count."""

import re

from bench.errors import UsageError
from bench.model.results import CellSpec, Plan, Shard
from bench.plan.matrix import Variant
from bench.plan.profiles import estimate, total_estimate


def parse(text: str) -> tuple[int, int]:
    """ "2/3" -> (2, 3); anything else is a UsageError."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(f"--shard {text!r} is not I/N with 1 <= I <= N; write e.g. --shard 2/3")
    return int(match[1]), int(match[2])


def split(plan: Plan, count: int, variants: dict[str, Variant]) -> list[Shard]:
    """The plan's cells in `count` shards: longest first onto the least-loaded shard (LPT).

    An open-loop cell stays with the closed-loop cell its rate comes from. Ties go to the
    lower shard and the earlier group, so every machine computes the same split; within a
    shard, cells keep plan order.
    """
    groups: dict[str, list[CellSpec]] = {}  # closed-loop cell id -> it and its open loops
    for cell in plan.cells:
        closed = CellSpec(variant=cell.variant, params=cell.params.closed())
        groups.setdefault(closed.id, []).append(cell)
    if not 1 <= count <= len(groups):
        raise UsageError(
            f"cannot split a plan of {len(groups)} cells into {count} shards; "
            f"use 1 to {len(groups)} shards (open-loop cells go with their closed-loop cell)"
        )
    members = list(groups.values())
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
    for shard in split(plan, count, variants):
        cells = [c for c in plan.cells if c.id in set(shard.cells)]
        seconds = total_estimate(cells, variants, plan.measure)
        out.append(
            {"shard": f"{shard.index}/{count}", "cells": len(cells), "estimate_s": round(seconds)}
        )
    return out
