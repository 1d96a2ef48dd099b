"""The CPU plan: defaults for small and large machines, and the --pin grammar."""

import pytest

from bench.errors import UsageError
from bench.plan import pinning


def test_two_cpus_put_the_server_alone() -> None:
    plan = pinning.auto([0, 1])
    assert plan.cpus == {"server": [0], "database": [1], "loadgen": [1]}
    assert "alone" in plan.note


def test_eight_cpus_split_three_ways() -> None:
    plan = pinning.auto(list(range(8)))
    assert plan.cpus == {"server": [0, 1, 2, 3], "database": [4, 5], "loadgen": [6, 7]}


def test_one_cpu_is_shared_and_said_so() -> None:
    plan = pinning.auto([3])
    assert set(map(tuple, filter(None, plan.cpus.values()))) == {(3,)}
    assert "share" in plan.note


def test_pin_spec_with_ranges_and_continuations() -> None:
    plan = pinning.parse("server=0-1,3,db=2,oha=2", cpus=[0, 1, 2, 3])
    assert plan.cpus == {"server": [0, 1, 3], "database": [2], "loadgen": [2]}
    assert plan.source == "--pin"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("server=0,db=1", "no CPUs for loadgen"),
        ("server=0,db=1,loadgen=9", "not available"),
        ("web=0,db=1,loadgen=1", "unknown role"),
        ("0,db=1,loadgen=1", "has no role"),
        ("server=a,db=1,loadgen=1", "not a CPU number"),
    ],
)
def test_bad_pin_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        pinning.parse(spec, cpus=[0, 1])


def test_fmt_compacts_ranges() -> None:
    assert pinning.fmt([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
