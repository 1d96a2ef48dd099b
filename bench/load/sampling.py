"""Resource sampling with psutil: memory and CPU of each role's whole process tree."""

import threading
import time

import psutil

from bench.model.results import Usage

MIB = 1024 * 1024
PEAK_WINDOW_S = 1.0  # peak CPU is the busiest 1 s window: /proc CPU times tick every 10 ms
FULL_EVERY = 8  # USS/PSS and the process list every 8th sample (0.5 Hz at the default 4 Hz)


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
        self.last: float | None = None

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
        if self.last is not None and now > self.last:
            self.cpu.append((busy, now - self.last))
        self.last = now

    def usage(self, interval: float) -> Usage:
        def peak(values: list[float]) -> float:
            return round(max(values, default=0.0) / MIB, 2)

        return Usage(
            samples=len(self.rss),
            interval_s=interval,
            peak_rss_mib=peak(self.rss),
            peak_uss_mib=peak(self.uss) if any(self.uss) else None,
            peak_pss_mib=peak(self.pss) if any(self.pss) else None,
            cpu_mean_pct=_percent(self.cpu),
            cpu_peak_pct=max((_percent(w) for w in _windows(self.cpu, PEAK_WINDOW_S)), default=0.0),
            processes=self.most,
        )


def _percent(intervals: list[tuple[float, float]]) -> float:
    """CPU use over `intervals` as % of one CPU."""
    wall = sum(w for _, w in intervals)
    return round(100.0 * sum(c for c, _ in intervals) / wall, 1) if wall else 0.0


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


class Sampler:
    """Samples each role's process tree every `interval` seconds on a background thread.

    Use as a context manager around the measured load; `usage()` then gives one Usage per
    role, and `overhead_pct` the sampler's own CPU cost (% of one CPU).
    """

    def __init__(self, roots: dict[str, int], interval: float = 0.25) -> None:
        self.interval = interval
        self.trees = {role: _Tree(pid) for role, pid in roots.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._cpu_s = 0.0
        self._wall_s = 0.0
        self.started = 0.0  # time.monotonic() when sampling started

    def add(self, role: str, pid: int) -> None:
        """Start sampling another role (e.g. the load generator once it is running)."""
        self.trees[role] = _Tree(pid)

    def __enter__(self) -> "Sampler":
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

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

    def usage(self) -> dict[str, Usage]:
        """Usage per role over the sampled period."""
        return {role: tree.usage(self.interval) for role, tree in self.trees.items()}
