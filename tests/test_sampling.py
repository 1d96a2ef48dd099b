"""The resource sampler against real processes: a busy loop, an idle one, a known allocation."""

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bench.load import processes
from bench.load.sampling import Sampler

BUSY = "import time\nx = bytearray(200 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\nwhile 1: pass"


@pytest.fixture
def pinned_busy_and_idle() -> Iterator[tuple[int, int]]:
    busy = processes.start([sys.executable, "-c", BUSY], cpus={0})
    idle = processes.start([sys.executable, "-c", "import time; time.sleep(60)"], cpus={0})
    try:
        time.sleep(0.5)  # let the busy one touch its 200 MiB
        yield busy.pid, idle.pid
    finally:
        processes.stop(busy)
        processes.stop(idle)


def test_sampler_sees_cpu_and_memory(pinned_busy_and_idle: tuple[int, int]) -> None:
    busy, idle = pinned_busy_and_idle
    with Sampler({"busy": busy, "idle": idle}, interval=0.25) as sampler:
        time.sleep(2.5)
    usage = sampler.usage()
    assert usage["busy"].samples >= 8
    assert 50 < usage["busy"].cpu_mean_pct <= 102  # one CPU at most: it is pinned to CPU 0
    assert usage["busy"].cpu_peak_pct <= 103
    assert usage["idle"].cpu_mean_pct < 5
    assert usage["busy"].peak_rss_mib >= 200
    assert usage["busy"].peak_uss_mib is not None and usage["busy"].peak_uss_mib >= 190
    assert usage["idle"].peak_rss_mib < 100
    assert 0 < sampler.overhead_pct < 25


def test_sampler_survives_a_process_that_exits() -> None:
    short = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.6)"])
    with Sampler({"short": short.pid}, interval=0.1) as sampler:
        time.sleep(1.2)
    short.wait()
    assert 1 <= sampler.usage()["short"].samples <= 8
