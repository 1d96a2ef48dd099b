"""Profiles from matrix.toml with command-line overrides, and merging sharded runs."""

import copy
from pathlib import Path

import pytest

from bench import profiles, results
from bench.errors import UsageError
from bench.merge import merge

STORED = Path(__file__).parent / "data" / "results-v1.json"


def test_profiles_in_the_matrix_file() -> None:
    assert {"default", "seed-exact", "smoke"} <= set(profiles.names())
    seed = profiles.shape("seed-exact")
    assert (seed.requests, seed.concurrency, seed.keepalive, seed.repeats) == (50000, 10, False, 1)
    smoke = profiles.shape("smoke")
    assert smoke.duration_s == 2 and smoke.repeats == 1


def test_overrides_replace_the_profile_and_a_duration_replaces_a_count() -> None:
    shape = profiles.shape("seed-exact", duration_s=20.0, concurrency=50, keepalive=True)
    assert (shape.duration_s, shape.requests, shape.concurrency, shape.keepalive) == (
        20.0, None, 50, True,
    )  # fmt: skip
    counted = profiles.shape("default", requests=1000)
    assert (counted.requests, counted.duration_s) == (1000, None)
    assert counted.label() == "c=10 keepalive=off n=1000"


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("500ms", 0.5), ("1m", 60), ("3", 3)])
def test_durations(text: str, seconds: float) -> None:
    assert profiles.seconds(text, "--duration") == seconds


@pytest.mark.parametrize("overrides", [{"duration_s": 601.0}, {"requests": 0}, {"repeats": 101}])
def test_unbounded_loads_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(UsageError, match=r"range|at most"):
        profiles.shape("default", **overrides)


def test_merge_joins_shards_and_refuses_mixed_machines() -> None:
    run = results.load(STORED)
    first, second = copy.deepcopy(run), copy.deepcopy(run)
    first.cells, second.cells = run.cells[:2], run.cells[2:]
    merged = merge([first, second], "merged")
    assert [c.variant for c in merged.cells] == [c.variant for c in run.cells]
    assert merged.metadata["merged_from"] == [run.run_id, run.run_id]
    second.metadata["cpu"] = {**second.metadata["cpu"], "model": "Other CPU"}
    with pytest.raises(UsageError, match=r"cpu\.model differs"):
        merge([first, second], "merged")
