"""Merging shards of one plan, from a stored real run split the way --shard splits it."""

from pathlib import Path

import pytest

from bench.errors import UsageError
from bench.model import store
from bench.model.merge import merge, missing_shards
from bench.model.results import Run
from bench.plan import matrix, shards

STORED = Path(__file__).parent / "data" / "results-v2.json"


def sharded(count: int) -> list[Run]:
    """The stored run as `count` shard runs, each holding its shard's cells."""
    parts = shards.split(store.load(STORED).plan, count, matrix.load_variants())
    runs = [store.load(STORED) for _ in parts]  # independent copies
    for run, part in zip(runs, parts, strict=True):
        run.run_id = f"shard{part.index}"
        run.plan.shard = part
        run.cells = [c for c in run.cells if c.id in part.cells]
    return runs


def test_shards_merge_back_into_the_whole_run() -> None:
    whole = store.load(STORED)
    merged = merge(sharded(3), "merged")
    assert [c.id for c in merged.cells] == [c.id for c in whole.plan.cells]
    assert merged.plan == whole.plan and merged.plan.shard is None
    assert not merged.missing and merged.metadata.merged_from == ["shard1", "shard2", "shard3"]


def test_a_missing_shard_is_named_with_its_cells() -> None:
    first, second, third = sharded(3)
    merged = merge([first, third], "partial")
    assert second.plan.shard is not None
    assert merged.missing == second.plan.shard.cells
    assert missing_shards([first, third]) == ["2/3"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda r: r.metadata.cpu.update(model="Other CPU"), "CPU model differs"),
        (lambda r: setattr(r.metadata.git, "commit", "0" * 40), "commit differs"),
        (
            lambda r: r.metadata.variants["axum"].packages.update(axum="0.1.0"),
            "the lock or the installed packages of axum",
        ),
        (lambda r: r.plan.measure.__setattr__("repeats", 9), "plan differs"),
        (
            lambda r: next(iter(r.metadata.variants.values())).packages.update(fastapi="0.0.1"),
            "the lock or the installed packages of",
        ),
    ],
    ids=["machine", "commit", "crates", "plan", "packages"],
)
def test_shards_that_do_not_belong_together_are_refused(change: object, says: str) -> None:
    first, second = sharded(2)
    change(second)  # type: ignore[operator]
    with pytest.raises(UsageError, match=says):
        merge([first, second], "merged")


def test_a_shard_given_twice_is_refused() -> None:
    first, second = sharded(2)
    with pytest.raises(UsageError, match="merge each shard once"):
        merge([first, second, first], "merged")
