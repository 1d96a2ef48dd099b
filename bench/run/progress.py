"""Progress of a run: on a terminal, a rich progress line with a live panel under it; without
one (CI), one log line per finished repeat.

The panel shows what the running sampler saw last (`Sampler.current`; nothing is sampled
twice) and the kernel's loopback counters: new TCP connections per second, which are the
requests per second when keep-alive is off (the published shape), and loopback bytes.
"""

import sys
import threading
import time
from collections import deque
from pathlib import Path

import psutil
from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bench.load.sampling import Sampler
from bench.model.roles import NAMES

REFRESH_PER_S = 2
RATE_OVER_S = 2.0  # the rates shown are over the last two seconds


def loopback() -> tuple[int, int]:
    """The kernel's TCP passive opens (connections accepted, all addresses) and the bytes
    received on the loopback interface, so far."""
    lines = Path("/proc/net/snmp").read_text().splitlines()
    names, values = (line.split() for line in lines if line.startswith("Tcp:"))
    opens = int(values[names.index("PassiveOpens")])
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "lo":
            return opens, int(counters.split()[0])
    return opens, 0


class _Rates:
    """Rates of the loopback counters over the last RATE_OVER_S seconds."""

    def __init__(self) -> None:
        self.readings: deque[tuple[float, int, int]] = deque()

    def now(self) -> tuple[float, float] | None:
        """(new connections per second, loopback MiB per second), once two readings exist."""
        self.readings.append((time.monotonic(), *loopback()))
        while len(self.readings) > 2 and self.readings[-1][0] - self.readings[1][0] >= RATE_OVER_S:
            self.readings.popleft()
        (t0, opens0, bytes0), (t1, opens1, bytes1) = self.readings[0], self.readings[-1]
        if t1 <= t0:
            return None
        return (opens1 - opens0) / (t1 - t0), (bytes1 - bytes0) / (t1 - t0) / 2**20


class RunProgress:
    """Repeats done (of every cell's), the current cell and phase, an ETA, and on a terminal
    a live panel of what each role uses now."""

    def __init__(self, repeats: int, live: bool | None = None) -> None:
        self.repeats = repeats
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self.cost_pct: float | None = None  # the live view's own CPU, % of one CPU
        self._rates = _Rates()
        self._thread: int | None = None  # the refresh thread's native id
        self._live: Live | None = None
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("starting", total=repeats)
        if sys.stdout.isatty() if live is None else live:
            self._live = Live(get_renderable=self._render, refresh_per_second=REFRESH_PER_S)

    def __enter__(self) -> "RunProgress":
        if self._live:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self.cost_pct = self._cost()
            self._live.stop()
            print(f"live view: {self.cost_pct:.2f}% of one CPU", flush=True)

    def phase(self, cell: str, phase: str) -> None:
        """Show what is happening now; phase "done" (or "failed...") counts one repeat done."""
        finished = phase == "done" or phase.startswith("failed")
        self.done += finished
        self.failed += phase.startswith("failed")
        now = self.done if finished else min(self.done + 1, self.repeats)  # flamegraphs: after
        text = f"[{now}/{self.repeats}] {cell}: {phase}"
        if self._live:
            self._progress.update(self._task, description=text, completed=self.done)
        elif finished or not phase.startswith("repeat "):  # a repeat's steps: its end only
            print(f"{time.monotonic() - self.started:7.1f}s {text}", flush=True)

    def _render(self) -> RenderableType:
        """The progress line and the panel (called by the refresh thread, twice a second)."""
        self._thread = threading.get_native_id()
        return Group(self._progress.get_renderable(), self._panel())

    def _panel(self) -> Table:
        panel = Table(box=None, padding=(0, 2), show_edge=False)
        for column in ("now", "CPU (% of one)", "memory (MiB)", "processes"):
            panel.add_column(column, justify="left" if column == "now" else "right")
        sampler = Sampler.current
        found = sampler.now() if sampler else {}
        for role, name in NAMES.items():
            if role in found:
                now = found[role]
                panel.add_row(name, f"{now.cpu_pct:.0f}", f"{now.rss_mib:.0f}", str(now.processes))
        rates = self._rates.now()
        if rates:
            opens, mib = rates
            panel.caption = (
                f"≈ {opens:.0f} requests/s (estimated: new TCP connections/s, as many as "
                f"requests with keep-alive off); loopback {mib:.1f} MiB/s; "
                f"failed repeats so far: {self.failed}"
            )
        if not found:
            panel.add_row("between repeats", "", "", "")
        return panel

    def _cost(self) -> float:
        """The refresh thread's CPU over the view's life, % of one CPU."""
        wall = time.monotonic() - self.started
        for thread in psutil.Process().threads():
            if thread.id == self._thread and wall > 0:
                return 100.0 * (thread.user_time + thread.system_time) / wall
        return 0.0
