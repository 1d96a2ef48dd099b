"""Resource sampling with psutil: memory and CPU of each role's whole process tree."""

import threading
import time

import psutil

from bench.results import Usage

MIB = 1024 * 1024
FULL_EVERY = 8  # USS/PSS and the process list every 8th sample (0.5 Hz at the default 4 Hz)


class _Tree:
    """Running totals for one process tree (a root pid and all its descendants)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.procs: dict[int, psutil.Process] = {}
        self.cpu_seen: dict[int, float] = {}
        self.rss: list[float] = []
        self.uss: list[float] = []
        self.pss: list[float] = []
        self.cpu: list[float] = []  # % of one CPU over each interval
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
        members = self.members(refresh=full)
        for proc in members:
            try:
                with proc.oneshot():
                    mem = proc.memory_full_info() if full else proc.memory_info()
                    times = proc.cpu_times()
            except psutil.Error:
                continue
            rss += mem.rss
            uss += getattr(mem, "uss", 0)
            pss += getattr(mem, "pss", 0)
            total = times.user + times.system
            if proc.pid in self.cpu_seen:
                busy += total - self.cpu_seen[proc.pid]
            self.cpu_seen[proc.pid] = total
        if members:
            self.rss.append(rss)
            if full:
                self.uss.append(uss)
                self.pss.append(pss)
            self.most = max(self.most, len(members))
            if self.last is not None and now > self.last:
                self.cpu.append(100.0 * busy / (now - self.last))
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
            cpu_mean_pct=round(sum(self.cpu) / len(self.cpu), 1) if self.cpu else 0.0,
            cpu_peak_pct=round(max(self.cpu, default=0.0), 1),
            processes=self.most,
        )


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

    def add(self, role: str, pid: int) -> None:
        """Start sampling another role (e.g. the load generator once it is running)."""
        self.trees[role] = _Tree(pid)

    def __enter__(self) -> "Sampler":
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

    def usage(self) -> dict[str, Usage]:
        """Usage per role over the sampled period."""
        return {role: tree.usage(self.interval) for role, tree in self.trees.items()}
