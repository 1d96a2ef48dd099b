"""Resource sampling with psutil: memory and CPU of each role's whole process tree.

CPU seconds add up: a role's tree is read whole when sampling starts and when it stops, each
process's own CPU time plus that of the children it reaped (a Postgres backend that ended,
a worker that was replaced), so processes born or gone in between are counted in full. A root
the caller reaps itself (oha) hands over the kernel's account of it (`ended`).
"""

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import psutil

from bench.model.results import Usage

MIB = 1024 * 1024
PEAK_WINDOW_S = 1.0  # peak CPU is the busiest 1 s window: /proc CPU times tick every 10 ms
FULL_EVERY = 8  # USS/PSS and the process list every 8th sample (0.5 Hz at the default 4 Hz)
CLOCK_TICK_S = 0.01  # a process's start time is counted in clock ticks


class _Tree:
    """Running totals for one process tree (a root pid and all its descendants)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.procs: dict[int, psutil.Process] = {}
        self.cpu_seen: dict[int, float] = {}
        self.rss: list[float] = []
        self.times: list[float] = []  # time.monotonic() of each RSS sample
        self.uss: list[float] = []
        self.pss: list[float] = []
        self.cpu: list[tuple[float, float]] = []  # (CPU seconds, wall seconds) per interval
        self.most = 0
        self.alive = 0
        self.last: float | None = None
        self.start: tuple[float, float] | None = (0.0, 0.0)  # CPU (user, system) s at start
        self.end: tuple[float, float] | None = None

    def members(self, refresh: bool) -> list[psutil.Process]:
        """The tree's processes; the (costly) /proc scan for children runs only on `refresh`."""
        try:
            root = self.procs.setdefault(self.root, psutil.Process(self.root))
            if refresh:
                kids = root.children(recursive=True)
                self.procs = {root.pid: root} | {k.pid: self.procs.get(k.pid, k) for k in kids}
        except psutil.Error:
            return []
        return list(self.procs.values())

    def sample(self, full: bool) -> None:
        """One sample: RSS and CPU always; USS/PSS (from smaps, costly) and membership if `full`."""
        now = time.monotonic()
        rss = uss = pss = busy = 0.0
        alive = 0
        for proc in self.members(refresh=full):
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue
                    mem = proc.memory_full_info() if full else proc.memory_info()
                    times = proc.cpu_times()
            except psutil.Error:
                continue
            alive += 1
            rss += mem.rss
            uss += getattr(mem, "uss", 0)
            pss += getattr(mem, "pss", 0)
            total = times.user + times.system
            busy += total - self.cpu_seen.get(proc.pid, total)
            self.cpu_seen[proc.pid] = total
        if not alive:
            return
        self.rss.append(rss)
        self.times.append(now)
        if full:
            self.uss.append(uss)
            self.pss.append(pss)
        self.most = max(self.most, alive)
        self.alive = alive
        if self.last is not None and now > self.last:
            self.cpu.append((busy, now - self.last))
        self.last = now

    def cpu_total(self) -> tuple[float, float] | None:
        """CPU seconds (user, system) the tree's processes used so far, each with the children
        it reaped; None once the root is gone (its account is lost with it)."""
        user = system = 0.0
        members = self.members(refresh=True)
        if not members:
            return None
        for proc in members:
            try:
                t = proc.cpu_times()  # a zombie's still counts: its parent has not reaped it
            except psutil.Error:
                continue  # reaped since the scan: it is in its parent's children_* now
            user += t.user + t.children_user
            system += t.system + t.children_system
        return user, system

    def cpu_used(self) -> tuple[float, float] | None:
        """CPU seconds (user, system) between the start and the end of sampling."""
        if self.start is None or self.end is None:
            return None
        return self.end[0] - self.start[0], self.end[1] - self.start[1]

    def usage(self, interval: float, wall: float) -> Usage:
        def peak(values: list[float]) -> float:
            return round(max(values, default=0.0) / MIB, 2)

        used = self.cpu_used()
        mean = round(100.0 * sum(used) / wall, 1) if used and wall else _percent(self.cpu)
        return Usage(
            samples=len(self.rss),
            interval_s=interval,
            peak_rss_mib=peak(self.rss),
            peak_uss_mib=peak(self.uss) if any(self.uss) else None,
            peak_pss_mib=peak(self.pss) if any(self.pss) else None,
            cpu_mean_pct=mean,
            cpu_peak_pct=max((_percent(w) for w in _windows(self.cpu, PEAK_WINDOW_S)), default=0.0),
            processes=self.most,
            cpu_user_s=round(used[0], 3) if used else None,
            cpu_system_s=round(used[1], 3) if used else None,
            wall_s=round(wall, 3) if used else None,
        )


def _percent(intervals: list[tuple[float, float]]) -> float:
    """CPU use over `intervals` as % of one CPU."""
    wall = sum(w for _, w in intervals)
    return round(100.0 * sum(c for c, _ in intervals) / wall, 1) if wall else 0.0


def _last(intervals: list[tuple[float, float]], seconds: float) -> list[tuple[float, float]]:
    """The latest intervals spanning `seconds` (or all there are)."""
    out: list[tuple[float, float]] = []
    for interval in reversed(intervals):
        if sum(w for _, w in out) >= seconds:
            break
        out.append(interval)
    return out


def _windows(
    intervals: list[tuple[float, float]], seconds: float
) -> list[list[tuple[float, float]]]:
    """Sliding runs of consecutive intervals spanning at least `seconds` (or all of them)."""
    out = []
    for start in range(len(intervals)):
        wall, end = 0.0, start
        while end < len(intervals) and wall < seconds:
            wall += intervals[end][1]
            end += 1
        if wall >= seconds or start == 0:
            out.append(intervals[start:end])
    return out


@dataclass(frozen=True)
class Now:
    """A role's latest sample, for a live view: CPU over the last second, memory, processes."""

    cpu_pct: float
    rss_mib: float
    processes: int


class Sampler:
    """Samples each role's process tree every `interval` seconds on a background thread.

    Use as a context manager around the measured load; `usage()` then gives one Usage per
    role, and `overhead_pct` the sampler's own CPU cost (% of one CPU). While one samples,
    `Sampler.current` is it (a live view reads its `now()`, never sampling again).
    """

    current: ClassVar["Sampler | None"] = None

    def __init__(self, roots: dict[str, int], interval: float = 0.25) -> None:
        self.interval = interval
        self.trees = {role: _Tree(pid) for role, pid in roots.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._cpu_s = 0.0
        self._wall_s = 0.0
        self.started = 0.0  # time.monotonic() when sampling started
        self.stopped = 0.0
        self._born_after = 0.0  # time.time() when sampling started

    def add(self, role: str, pid: int) -> None:
        """Start sampling another role (e.g. the load generator once it is running): its CPU
        counts from its birth if it was born after sampling started."""
        tree = _Tree(pid)
        try:
            born = psutil.Process(pid).create_time() >= self._born_after - CLOCK_TICK_S
        except psutil.Error:
            born = True
        tree.start = (0.0, 0.0) if born else tree.cpu_total()
        self.trees[role] = tree

    def ended(self, role: str, cpu: tuple[float, float]) -> None:
        """`role`'s root was born while sampling and has been reaped by the caller, whose wait
        returned the kernel's account of its CPU seconds (user, system): its whole use."""
        self.trees[role].end = cpu

    def __enter__(self) -> "Sampler":
        self._born_after = time.time()
        for tree in self.trees.values():
            tree.start = tree.cpu_total()
        self.started = time.monotonic()
        self._thread.start()
        Sampler.current = self
        return self

    def __exit__(self, *exc: object) -> None:
        Sampler.current = None
        self._stop.set()
        self._thread.join()
        for tree in self.trees.values():
            if tree.end is None:
                tree.end = tree.cpu_total()
        self.stopped = time.monotonic()

    def _loop(self) -> None:
        start_wall, start_cpu = time.monotonic(), time.thread_time()
        next_at = start_wall
        count = 0
        while not self._stop.is_set():
            for tree in list(self.trees.values()):
                tree.sample(full=count % FULL_EVERY == 0)
            count += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        self._cpu_s = time.thread_time() - start_cpu
        self._wall_s = time.monotonic() - start_wall

    @property
    def overhead_pct(self) -> float:
        """CPU time the sampling thread used, as % of one CPU over its lifetime."""
        return round(100.0 * self._cpu_s / self._wall_s, 2) if self._wall_s else 0.0

    def series(self, role: str) -> list[tuple[float, float]]:
        """The role's RSS over time: (seconds since the sampler started, MiB) per sample."""
        tree = self.trees[role]
        return [(t - self.started, r / MIB) for t, r in zip(tree.times, tree.rss, strict=False)]

    def now(self) -> dict[str, Now]:
        """Each sampled role's latest CPU % (over its last second), RSS and process count."""
        found = {}
        for role, tree in list(self.trees.items()):
            if tree.rss:
                cpu = _percent(_last(tree.cpu[-64:], PEAK_WINDOW_S))
                found[role] = Now(cpu, round(tree.rss[-1] / MIB, 1), tree.alive)
        return found

    def usage(self) -> dict[str, Usage]:
        """Usage per role over the sampled period."""
        wall = self.stopped - self.started
        return {role: tree.usage(self.interval, wall) for role, tree in self.trees.items()}
