"""Progress of a run: a rich display on a terminal, plain log lines otherwise (CI)."""

import sys
import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    """Repeats done (of every cell's), the current cell and phase, and an ETA."""

    def __init__(self, cells: int) -> None:
        self.cells = cells
        self.done = 0
        self.started = time.monotonic()
        self._rich: Progress | None = None
        if sys.stdout.isatty():
            self._rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
            )
            self._task = self._rich.add_task("starting", total=cells)

    def __enter__(self) -> "RunProgress":
        if self._rich:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich:
            self._rich.stop()

    def phase(self, cell: str, phase: str) -> None:
        """Show what is happening now; phase "done" (or "failed...") counts one repeat done."""
        finished = phase == "done" or phase.startswith("failed")
        self.done += finished
        text = f"[{self.done if finished else self.done + 1}/{self.cells}] {cell}: {phase}"
        if self._rich:
            self._rich.update(self._task, description=text, completed=self.done)
        else:
            print(f"{time.monotonic() - self.started:7.1f}s {text}", flush=True)
