"""Plans from matrix.toml: sweeps, cross products, skips, overrides, estimates and shards."""

import itertools
import random

import pytest

from bench.errors import UsageError
from bench.model.plan import CellSpec, Measure, Plan, Shard, by_axes
from bench.model.results import Cell
from bench.plan import matrix, profiles, shards
from bench.plan.matrix import SIDE
from bench.plan.order import round_order, sides

VARIANTS = matrix.load_variants()


def plan(
    profile: str = "default", variants: str | None = None, open_loop: str = "none", **axes: str
) -> Plan:
    """The plan `python -m bench run --profile P --variants V --open-loop R --axis LIST ...`
    would run (without open-loop cells unless asked: `open_loop="profile"` for the profile's)."""
    overrides = {axis: profiles.parse_axis(axis, text) for axis, text in axes.items()}
    chosen = matrix.select(variants or profiles.variants(profile))
    rates = None if open_loop == "profile" else profiles.parse_rates(open_loop)
    return profiles.build(profile, chosen, profiles.measure(profile), overrides, rates)


def test_profiles_in_the_matrix_file() -> None:
    assert {"default", "seed-exact", "smoke", "full"} <= set(profiles.names())
    seed = profiles.measure("seed-exact")
    assert (seed.requests, seed.duration_s, seed.repeats) == (50000, None, 1)
    (cell,) = plan("seed-exact", "axum").cells
    assert (cell.params.concurrency, cell.params.keepalive, cell.params.limit) == (10, False, 100)


def test_seed_exact_is_the_published_configuration() -> None:
    """Both FastAPI apps on uvloop + httptools, the sync one on psycopg2 with 5 + 10."""
    seed = plan("seed-exact")
    sync, fastapi_async, axum = seed.cells
    assert [c.variant for c in seed.cells] == ["fastapi-sync-psycopg2", "fastapi-async", "axum"]
    assert VARIANTS["fastapi-sync-psycopg2"].driver == "psycopg2"
    assert (sync.params.runtime, sync.params.pool, sync.params.overflow) == (
        "uvicorn-standard",
        5,
        10,
    )
    assert sync.params.connections() == 15 and "pool=5+10" in sync.label
    assert (fastapi_async.params.runtime, fastapi_async.params.overflow) == (
        "uvicorn-standard",
        None,
    )
    assert (axum.params.runtime, axum.params.workers, axum.params.overflow) == (None, None, None)
    assert not seed.skips  # nothing was asked twice of one variant


def test_overflow_applies_to_sqlalchemy_pools_only() -> None:
    both = plan(variants="fastapi-sync,fastapi-async", overflow="0,10")
    assert [(c.variant, c.params.overflow) for c in both.cells] == [
        ("fastapi-sync", 0),
        ("fastapi-async", None),
        ("fastapi-sync", 10),
    ]
    (skip,) = both.skips
    assert (skip.variant, skip.axes["overflow"]) == ("fastapi-async", 10)
    assert "overflow axis means nothing for fastapi-async (its pool has no overflow)" in skip.reason


def test_default_plan_is_the_published_shape_once_per_variant() -> None:
    default = plan()
    assert [c.variant for c in default.cells] == [n for n, v in VARIANTS.items() if not v.opt_in]
    assert len(default.sweeps) == 1 and not default.skips
    for cell in default.cells:
        p = cell.params
        assert (p.concurrency, p.keepalive, p.limit, p.pool, p.mode, p.rate) == (
            10,
            False,
            100,
            5,
            "closed",
            None,
        )
        assert (p.workers is None) == (cell.variant == "axum")
        assert p.overflow == (0 if VARIANTS[cell.variant].overflow else None)
        assert p.runtime == VARIANTS[cell.variant].runtime


def test_command_line_lists_are_one_cross_product_with_variants_innermost() -> None:
    cells = plan(variants="axum,fastapi-tuned", concurrency="1,10,100", limit="1,100").cells
    assert len(cells) == 12
    expected = [
        (c, limit, v)
        for c, limit in itertools.product([1, 10, 100], [1, 100])
        for v in ("axum", "fastapi-tuned")
    ]
    assert [(c.params.concurrency, c.params.limit, c.variant) for c in cells] == expected
    assert len({c.id for c in cells}) == 12
    assert cells[0].label.startswith("c=1 keepalive=off limit=1 pool=5")


def test_ids_and_labels_derive_from_parameters() -> None:
    a, b = plan(variants="fastapi-async").cells[0], plan(variants="fastapi-async").cells[0]
    assert a.id == b.id and a.label == b.label
    other = plan(variants="fastapi-async", keepalive="on").cells[0]
    assert other.id != a.id and "keepalive=on" in other.label
    rebuilt = CellSpec.model_validate({"variant": a.variant, "params": a.params.model_dump()})
    assert rebuilt.id == a.id


def test_full_profile_is_a_union_of_sweeps_without_duplicates() -> None:
    full = plan("full")
    ids = [c.id for c in full.cells]
    assert len(ids) == len(set(ids))
    assert set(ids) == {i for s in full.sweeps for i in s.cells}
    default_cells = {c.id for c in plan().cells}
    shared = [s.name for s in full.sweeps if default_cells <= set(s.cells)]
    assert len(shared) >= 2, "the default shape belongs to every sweep that varies around it"
    concurrency = {c.params.concurrency for c in full.cells}
    assert concurrency == {1, 10, 50, 100, 256}
    assert {c.params.limit for c in full.cells} == {1, 10, 100, 1000}


def test_axes_that_mean_nothing_for_a_variant_are_skipped_with_a_reason() -> None:
    p = plan(variants="fastapi-async,axum", workers="1,2")
    assert [(c.variant, c.params.workers) for c in p.cells] == [
        ("fastapi-async", 1), ("axum", None), ("fastapi-async", 2),
    ]  # fmt: skip
    (skip,) = p.skips
    assert skip.variant == "axum" and skip.axes["workers"] == 2
    assert "the workers axis means nothing for axum" in skip.reason


def test_a_runtime_a_variant_does_not_run_on_is_skipped() -> None:
    p = plan(variants="fastapi-tuned,fastapi-async", runtime="uvicorn")
    assert [c.variant for c in p.cells] == ["fastapi-async"]
    assert "fastapi-tuned runs on uvicorn-standard, granian only" in p.skips[0].reason
    with pytest.raises(UsageError, match="every cell of this plan is skipped"):
        plan(variants="fastapi-tuned", runtime="uvicorn")


@pytest.mark.parametrize(
    ("axis", "text", "says"),
    [
        ("concurrency", "1,x", "'x' is not a whole number"),
        ("concurrency", "0", "--concurrency 0 is out of range"),
        ("limit", "2001", "--limit 2001 is out of range"),
        ("keepalive", "maybe", "not on or off"),
        ("runtime", "hypercorn", "--runtime 'hypercorn' is unknown"),
        ("pool", "1,,2", "empty item"),
    ],
)
def test_bad_axis_values_are_usage_errors(axis: str, text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        profiles.parse_axis(axis, text)


def test_too_many_database_connections_are_refused() -> None:
    with pytest.raises(UsageError, match=r"workers x \(pool \+ overflow\) = 100"):
        plan(variants="fastapi-async", workers="10", pool="10")


def test_measure_overrides_and_bounds() -> None:
    m = profiles.measure("seed-exact", duration_s=20.0)
    assert (m.duration_s, m.requests) == (20.0, None)
    assert profiles.measure("default", requests=1000).duration_s is None
    with pytest.raises(UsageError, match="contradict"):
        profiles.measure("default", requests=10, duration_s=1.0)
    for bad in ({"duration_s": 601.0}, {"requests": 0}, {"repeats": 101}):
        with pytest.raises(UsageError, match=r"range|at most"):
            profiles.measure("default", **bad)


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("500ms", 0.5), ("1m", 60), ("3", 3)])
def test_durations(text: str, seconds: float) -> None:
    assert profiles.seconds(text, "--duration") == seconds


def test_estimates_add_up_from_the_measurement_settings() -> None:
    p = plan(variants="axum")
    m = p.measure
    (cell,) = p.cells
    each = profiles.START_S["rust"] + m.warmup_s + (m.duration_s or 0) + profiles.REPEAT_OVERHEAD_S
    assert profiles.estimate(cell, VARIANTS, m) == pytest.approx(m.repeats * each)  # fresh each
    counted = Measure(requests=VARIANTS["axum"].rps_hint * 4, repeats=1)
    assert profiles.estimate(cell, VARIANTS, counted) == pytest.approx(
        profiles.START_S["rust"] + 4 + profiles.REPEAT_OVERHEAD_S
    )


def test_shards_partition_the_plan_and_balance_time() -> None:
    full = plan("full")
    parts = shards.split(full, 3, VARIANTS)
    ids = [i for s in parts for i in s.cells]
    assert sorted(ids) == sorted(c.id for c in full.cells)
    assert len(ids) == len(set(ids))
    for part in parts:  # plan order inside each shard
        order = [c.id for c in full.cells if c.id in part.cells]
        assert part.cells == order
    cost = {c.id: profiles.estimate(c, VARIANTS, full.measure) for c in full.cells}
    groups = [sum(cost[c.id] for c in g) for g in shards.groups(full)]
    loads = [sum(cost[i] for i in s.cells) for s in parts]
    assert max(loads) - min(loads) <= max(groups) + 1e-9  # LPT over whole groups
    assert shards.split(plan("full"), 3, VARIANTS) == parts  # deterministic


def shard_of(parts: list[Shard]) -> dict[str, int]:
    """Cell id -> the index of the shard holding it."""
    return {cell: part.index for part in parts for cell in part.cells}


def test_every_shape_of_a_multi_shape_plan_runs_all_its_variants_in_one_shard() -> None:
    names = ["axum", "fastapi-sync", "fastapi-tuned"]
    p = plan(variants=",".join(names), concurrency="1,10", keepalive="on,off", open_loop="0.5")
    assert len(shards.groups(p)) == 4
    for count in (1, 2, 3, 4):
        where = shard_of(shards.split(p, count, VARIANTS))
        shapes: dict[tuple[int, bool], set[int]] = {}
        for cell in p.cells:
            shapes.setdefault((cell.params.concurrency, cell.params.keepalive), set()).add(
                where[cell.id]
            )
        assert len(shapes) == 4 and all(len(found) == 1 for found in shapes.values()), shapes
    for part in shards.split(p, 4, VARIANTS):  # one shape per shard: each variant, both loops
        mine = [c for c in p.cells if c.id in part.cells]
        assert len({(c.params.concurrency, c.params.keepalive) for c in mine}) == 1
        assert sorted((c.variant, c.params.mode) for c in mine) == sorted(
            (n, mode) for n in names for mode in ("closed", "open")
        )


def test_the_full_profile_keeps_each_compared_shape_in_one_shard() -> None:
    """The report's shapes (a sweep's cells grouped by the axes it varies, a Python server's
    workers=1 beside Axum's) never straddle two shards; shared cells join their sweeps'."""
    full = plan("full", open_loop="profile")
    where = shard_of(shards.split(full, 5, VARIANTS))
    by_id = {c.id: c for c in full.cells}
    for sweep in full.sweeps:
        varying = {a: v for a, v in sweep.axes.items() if len(v) > 1}
        for shape, cells in by_axes([by_id[i] for i in sweep.cells], varying).items():
            assert len({where[c.id] for c in cells}) == 1, f"{sweep.name}: {shape}"
            if "workers=1" in shape:
                assert "axum" in {c.variant for c in cells}


def test_a_side_of_a_comparison_joins_its_head_cells_group() -> None:
    """The hook for two sides of one cell ("axum@baseline" beside "axum"): grouped by shape."""
    whole = plan(variants="axum,fastapi-sync", concurrency="1,10")
    sides = [CellSpec(variant=f"{c.variant}@baseline", params=c.params) for c in whole.cells]
    both = whole.model_copy(update={"cells": [*whole.cells, *sides]})  # in no sweep
    groups = shards.groups(both)
    assert len(groups) == 2
    for group in groups:
        assert len({c.params.concurrency for c in group}) == 1
        assert sorted(c.variant for c in group) == sorted(
            ["axum", "axum@baseline", "fastapi-sync", "fastapi-sync@baseline"]
        )
    assert matrix.head("axum@baseline") == "axum" and matrix.head("axum") == "axum"


def test_shards_balance_whole_groups_by_estimated_time() -> None:
    # seed-exact's request counts: fastapi-sync-psycopg2 takes far longer than axum; granian
    # runs fastapi-async alone (psycopg2's variant has no granian, Axum no runtime axis)
    p = plan("seed-exact", runtime="uvicorn-standard,granian", concurrency="1,10")
    groups = shards.groups(p)
    assert sorted(len(g) for g in groups) == [1, 1, 3, 3]
    cost = [sum(profiles.estimate(c, VARIANTS, p.measure) for c in g) for g in groups]
    assert min(cost) * 2 < max(cost)  # two short groups together are still the lighter shard
    parts = shards.split(p, 3, VARIANTS)
    where = shard_of(parts)
    short = {where[c.id] for g in groups if len(g) == 1 for c in g}
    long = [{where[c.id] for c in g} for g in groups if len(g) == 3]
    assert len(short) == 1 and long[0] != long[1] and short.isdisjoint(long[0] | long[1])
    listing = shards.listing(p, 3, VARIANTS)
    assert [e["shard"] for e in listing] == ["1/3", "2/3", "3/3"]
    assert sum(int(str(e["cells"])) for e in listing) == len(p.cells)
    assert sum(int(str(e["groups"])) for e in listing) == 4


@pytest.mark.parametrize("text", ["0/3", "4/3", "x", "1/0", "2"])
def test_bad_shards_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        shards.parse(text)


def test_more_shards_than_comparison_groups_is_a_usage_error_naming_the_most() -> None:
    with pytest.raises(UsageError, match=r"plan of 1 comparison group into 2 shards; use 1 shard"):
        shards.split(plan(), 2, VARIANTS)  # five variants of one shape: one group
    two = plan(concurrency="1,10")
    with pytest.raises(UsageError, match=r"of 2 comparison groups into 3 shards; use 1 to 2 sh"):
        shards.split(two, 3, VARIANTS)


def test_open_loop_cells_follow_each_shape_at_the_profiles_rates() -> None:
    closed = plan()
    full = plan(open_loop="profile")
    assert profiles.parse_rates("0.9,0.5,0.5") == [0.5, 0.9]
    opened = [c for c in full.cells if c.params.mode == "open"]
    assert [c for c in full.cells if c.params.mode == "closed"] == closed.cells
    assert len(opened) == 2 * len(closed.cells)
    assert [(c.variant, c.params.rate) for c in opened] == [
        (c.variant, rate) for rate in (0.5, 0.9) for c in closed.cells
    ]
    ids = {c.id for c in full.cells}
    for cell in opened:
        sibling = CellSpec(variant=cell.variant, params=cell.params.closed())
        assert sibling.id in ids and cell.id != sibling.id
        assert cell.label.endswith(f"open@{cell.params.rate:.0%}")
    assert plan(open_loop="0.25").cells[-1].params.rate == 0.25
    with pytest.raises(UsageError, match="out of range"):
        profiles.parse_rates("0")


def test_full_profile_open_loops_only_the_default_shape() -> None:
    full = plan("full", open_loop="profile")
    opened = [c for c in full.cells if c.params.mode == "open"]
    assert {c.params.rate for c in opened} == {0.25, 0.5, 0.75, 0.9}
    default_shape = {c.params for c in plan().cells}
    assert {c.params.closed() for c in opened} == default_shape


def test_each_rounds_order_is_a_shuffle_reproducible_from_the_seed() -> None:
    full = plan("full")
    cells = [Cell(variant=c.variant, params=c.params) for c in full.cells]
    orders = [round_order(cells, 7, "closed", i) for i in range(3)]
    assert all(sorted(o, key=cells.index) == cells for o in orders)  # every cell, once
    assert orders == [round_order(cells, 7, "closed", i) for i in range(3)]  # reproducible
    assert len({tuple(c.id for c in o) for o in orders}) == 3  # each round its own order
    assert round_order(cells, 8, "closed", 0) != orders[0] != round_order(cells, 7, "open", 0)
    assert round_order(cells, None, "closed", 0) == cells  # no seed: plan order
    plain = list(cells)
    random.Random("7/closed/0").shuffle(plain)
    assert orders[0] == plain  # singletons: the plain shuffle of the cells


def test_both_sides_of_an_ab_cell_run_one_after_the_other_taking_turns() -> None:
    """Pairs keyed by the variant's own name and the parameters: adjacent in every round;
    which side goes first drawn from the seed for each pair, then taking turns, so over four
    rounds each side of every pair went first twice; reproducibly."""
    cells = [Cell(variant=v + side, params=c.params) for c in plan("full").cells
             for v in [c.variant] for side in ("", SIDE)]  # fmt: skip
    orders = [round_order(cells, 3, "closed", i, sides) for i in range(4)]
    assert orders == [round_order(cells, 3, "closed", i, sides) for i in range(4)]
    firsts: dict[object, list[bool]] = {}
    for order in orders:
        assert sorted(order, key=cells.index) == cells
        for first, second in zip(order[::2], order[1::2], strict=True):
            assert sides(first) == sides(second) and first.variant != second.variant
            firsts.setdefault(sides(first), []).append(matrix.is_baseline(first.variant))
    assert all(sides.count(True) == 2 for sides in firsts.values())
    assert {sides[0] for sides in firsts.values()} == {True, False}  # the start is drawn
