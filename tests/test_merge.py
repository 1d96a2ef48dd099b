"""Merging shards of one plan, from stored real runs split the way --shard splits them (and
the way an older split did, one shape over two shards: no verdict between its cells)."""

import json
from pathlib import Path

import pytest

from bench.analysis import reproduction
from bench.errors import UsageError
from bench.model import published, store
from bench.model.merge import merge, missing_shards
from bench.model.plan import Shard, by_axes
from bench.model.results import Run, runs_of
from bench.plan import matrix, shards
from bench.render import report

STORED = Path(__file__).parent / "data" / "results-v2.json"  # full: 2 variants, 8 groups
ONE_SHAPE = Path(__file__).parent / "data" / "results-v2-ceilings.json"  # smoke: 5 variants


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
        (lambda r: setattr(r.metadata.cpu, "model", "Other CPU"), "CPU model differs"),
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


def test_each_merged_cell_names_its_shard_and_no_shape_straddles_two() -> None:
    merged = merge(sharded(3), "merged")
    assert {c.measured_in for c in merged.cells} == {"shard1", "shard2", "shard3"}
    by_id = {c.id: c for c in merged.cells}
    for sweep in merged.plan.sweeps:
        varying = {a: v for a, v in sweep.axes.items() if len(v) > 1}
        for shape, cells in by_axes([by_id[i] for i in sweep.cells], varying).items():
            assert len(runs_of(cells)) == 1, f"{sweep.name}: {shape} measured apart"
    again = merge([merged], "again")  # a merged run merged again keeps where cells came from
    assert [c.measured_in for c in again.cells] == [c.measured_in for c in merged.cells]


def test_measured_in_is_kept_in_a_merged_file_and_absent_from_others(tmp_path: Path) -> None:
    assert "measured_in" not in ONE_SHAPE.read_text()
    store.save(store.load(ONE_SHAPE), tmp_path / "one.json")
    assert "measured_in" not in (tmp_path / "one.json").read_text()  # unmerged: unchanged
    store.save(merge(sharded(2), "merged"), tmp_path / "merged.json")
    cells = json.loads((tmp_path / "merged.json").read_text())["cells"]
    assert {c["measured_in"] for c in cells} == {"shard1", "shard2"}
    assert store.load(tmp_path / "merged.json").cells[0].measured_in in {"shard1", "shard2"}


def split_by_variant(path: Path, parts: list[list[str]]) -> list[Run]:
    """The stored run as shards of an older split: one shape's cells over several runs, the
    variants of parts[i] in shard i + 1."""
    runs = []
    for i, variants in enumerate(parts, 1):
        run = store.load(path)
        run.run_id = f"older-{i}"
        run.cells = [c for c in run.cells if c.variant in variants]
        run.plan.shard = Shard(index=i, count=len(parts), cells=[c.id for c in run.cells])
        runs.append(run)
    return runs


def test_a_merged_report_gives_no_verdict_between_cells_of_different_shards() -> None:
    assert len(shards.groups(store.load(ONE_SHAPE).plan)) == 1  # today: one shard holds it
    first = ["fastapi-sync", "fastapi-sqlalchemy-async"]
    older = split_by_variant(ONE_SHAPE, [first, ["fastapi-async", "fastapi-tuned", "axum"]])
    merged = merge(older, "merged")
    text = report.render(merged)
    assert (
        "These cells were measured in different runs (`older-1`, `older-2`: shards of this "
        "merged run, maybe on different machines): no change vs fastapi-sync is given."
    ) in text
    assert "| change vs fastapi-sync |" not in text  # the column
    ratios = [r for found in reproduction.reproduce(merged, published.load()) for r in found.ratios]
    for ratio in ratios:  # the sync row's cell is in older-1, axum's and async's in older-2
        assert ratio.judged is ("fastapi" not in (ratio.numerator, ratio.denominator)), ratio
        if not ratio.judged:
            assert ratio.verdict() == "no verdict: measured in different runs"
    judged = [r for r in ratios if r.judged]
    assert judged and len(judged) < len(ratios)
    assert (
        f"{len(ratios) - len(judged)} ratios compare cells measured in different runs "
        "(`older-1`, `older-2`: shards of this merged run, maybe on different machines): no "
        "verdict."
    ) in text
    assert f"**{sum(r.reproduced for r in judged)} of {len(judged)} published ratios" in text

    whole = merge(split_by_variant(ONE_SHAPE, [[c.variant for c in merged.cells]]), "whole")
    text = report.render(whole)  # one shard, as the split runs it now: every verdict given
    assert "measured in different runs" not in text and "no verdict" not in text
    assert "| change vs fastapi-sync |" in text
