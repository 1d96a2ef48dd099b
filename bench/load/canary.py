"""A machine canary: one fixed, small CPU workload timed on each CPU, and each CPU's steal time.

The workload is close to what the servers do: 100 rows like the endpoint's, turned into
JSON and back 100 times, about 10 ms on an idle CPU of the machine this project is developed
on, timed best of three on each CPU by pinning the calling thread there. Read before and
after every repeat, with no server running, it tells a change of a CPU's speed (frequency, a
noisy neighbour, the hypervisor's steal) from a change of the code under test.
"""

import json
import os
import time
from collections.abc import Collection
from pathlib import Path

from bench.model.results import CanaryReading

ROWS = [
    {"user_id": f"{n:032x}", "username": f"user{n}", "email": f"user{n}@example.com"}
    for n in range(100)
]
PASSES = 100
ROUNDS = 3


def workload() -> None:
    """The fixed piece of work: ROWS to JSON and back, PASSES times."""
    for _ in range(PASSES):
        json.loads(json.dumps(ROWS))


def time_on(cpu: int) -> float:
    """The workload's best time of ROUNDS on `cpu`, in milliseconds."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})  # this thread only, on Linux
    try:
        best = float("inf")
        for _ in range(ROUNDS):
            start = time.perf_counter()
            workload()
            best = min(best, time.perf_counter() - start)
    finally:
        os.sched_setaffinity(0, before)
    return best * 1000


def steal_s(stat: Path = Path("/proc/stat")) -> dict[int, float]:
    """Each CPU's steal time since boot, in seconds (the 8th value of its /proc/stat line)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for line in stat.read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu" and len(values) >= 8:
            found[int(name[3:])] = int(values[7]) / tick
    return found


def read(cpus: Collection[int]) -> CanaryReading:
    """The canary on each of `cpus` and their steal time so far."""
    stolen = steal_s()
    return CanaryReading(
        ms={str(cpu): round(time_on(cpu), 4) for cpu in sorted(cpus)},
        steal_s={str(cpu): stolen.get(cpu, 0.0) for cpu in sorted(cpus)},
    )
