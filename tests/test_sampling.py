"""The resource sampler against real processes: a busy loop, an idle one, a known allocation."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
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


@pytest.mark.slow
def test_sampler_sees_cpu_and_memory(pinned_busy_and_idle: tuple[int, int]) -> None:
    busy, idle = pinned_busy_and_idle
    spent, start = sum(psutil.Process(busy).cpu_times()[:2]), time.monotonic()
    with Sampler({"busy": busy, "idle": idle}, interval=0.25) as sampler:
        time.sleep(2.5)
    spent = sum(psutil.Process(busy).cpu_times()[:2]) - spent
    truth = 100 * spent / (time.monotonic() - start)  # the kernel's account: what it got of CPU 0
    usage = sampler.usage()
    assert usage["busy"].samples >= 8
    assert truth > 10, "the busy loop never ran"
    assert abs(usage["busy"].cpu_mean_pct - truth) < 10, (usage["busy"].cpu_mean_pct, truth)
    assert usage["busy"].cpu_mean_pct <= 102  # one CPU at most: it is pinned to CPU 0
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


TREE = """
import os, sys, time
def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
sys.stdin.readline()  # sampling has started
for _ in range(3):  # children born, busy and reaped while sampled
    pid = os.fork()
    if pid == 0:
        burn(0.3)
        os._exit(0)
    os.waitpid(pid, 0)
burn(0.2)
print("done", flush=True)
sys.stdin.readline()  # sampling has stopped
"""


def _stat_cpu_s(pid: int) -> float:
    """utime + stime + cutime + cstime from /proc/PID/stat, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def test_cpu_seconds_add_up_to_the_kernels_account() -> None:
    """Children born and reaped between the sampler's start and end count in full: the tree's
    CPU seconds agree with /proc/PID/stat before and the parent's wait4 account after."""
    proc = subprocess.Popen(
        [sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    time.sleep(0.3)  # the interpreter has started and waits
    before = _stat_cpu_s(proc.pid)
    with Sampler({"tree": proc.pid}, interval=0.25) as sampler:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "done\n"
    proc.stdin.write("end\n")
    proc.stdin.flush()
    _, _, account = os.wait4(proc.pid, 0)
    proc.returncode = 0
    expected = account.ru_utime + account.ru_stime - before
    usage = sampler.usage()["tree"]
    assert usage.cpu_user_s is not None and usage.cpu_system_s is not None
    used = usage.cpu_user_s + usage.cpu_system_s
    assert expected > 1.0  # three children of 0.3 s and the parent's 0.2 s
    assert used == pytest.approx(expected, rel=0.04, abs=0.03)
    assert usage.wall_s is not None and usage.wall_s >= used / 2  # at most two CPUs busy


REPORT = """
import time
end = time.process_time() + 0.5
while time.process_time() < end:
    pass
print(time.process_time())
"""


def test_a_root_its_caller_reaps_counts_from_birth(tmp_path: Path) -> None:
    """oha's case: started while sampled and reaped by the harness, whose wait hands the
    kernel's account over; it agrees with what the process measured of itself."""
    out = (tmp_path / "out").open("w+b")
    with Sampler({}) as sampler:
        proc = processes.start([sys.executable, "-c", REPORT], log=out)
        sampler.add("child", proc.pid)
        code, cpu = processes.wait(proc, timeout=30)
        sampler.ended("child", cpu)
    out.seek(0)
    own = float(out.read())
    usage = sampler.usage()["child"]
    assert code == 0 and proc.returncode == 0
    assert usage.cpu_user_s is not None and usage.cpu_system_s is not None
    assert usage.cpu_user_s + usage.cpu_system_s == pytest.approx(own, rel=0.04, abs=0.03)


def test_wait_gives_up_after_its_timeout() -> None:
    proc = processes.start([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            processes.wait(proc, timeout=0.3)
    finally:
        processes.stop(proc)
    assert proc.returncode is not None
