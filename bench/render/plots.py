"""Plots for the report, drawn from a Run alone: throughput and p99 latency per sweep.

One panel per sweep of the plan; along x the values of the sweep's varying axes, one bar per
variant. Failed cells are left out of the bars and counted in the panel title.
"""

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers or in CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bench.analysis import stats
from bench.model.results import Cell, Repeat, Run, by_axes

Measure = Callable[[Repeat], float | None]
PLOTS: dict[str, tuple[str, Measure, bool]] = {
    "throughput": ("requests per second (median of repeats)", lambda r: r.load.rps, False),
    "latency": (
        "p99 latency, ms (median of repeats, log scale)",
        lambda r: r.load.latency_ms.get("p99"),
        True,
    ),
}


def draw(run: Run, out_dir: Path) -> dict[str, str]:
    """Write throughput.png and latency.png into `out_dir`; return name -> file name (none
    when no cell was measured)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if not any(c.ok for c in run.cells):
        return files
    for name, (ylabel, measure, log) in PLOTS.items():
        sweeps = run.plan.sweeps
        fig, axes = plt.subplots(
            len(sweeps) or 1, 1, squeeze=False, figsize=(10, 0.5 + 4.2 * max(len(sweeps), 1))
        )
        by_id = {c.id: c for c in run.cells}
        for ax, sweep in zip(axes[:, 0], sweeps, strict=False):
            cells = [
                by_id[i] for i in sweep.cells if i in by_id and by_id[i].params.mode == "closed"
            ]
            varying = {a: v for a, v in sweep.axes.items() if len(v) > 1}
            _bars(ax, by_axes(cells, varying), measure, log)
            failed = sum(not c.ok for c in cells)
            title = sweep.name + (f" ({failed} failed cells not drawn)" if failed else "")
            ax.set_title(title, fontsize=10)
            ax.set_ylabel(ylabel, fontsize=9)
        fig.suptitle(f"{run.run_id} ({run.profile})", fontsize=11)
        fig.tight_layout()
        files[name] = f"{name}.png"
        fig.savefig(out_dir / files[name], dpi=110)
        plt.close(fig)
    return files


def _bars(ax: Axes, shapes: dict[str, list[Cell]], measure: Measure, log: bool) -> None:
    names = list(dict.fromkeys(c.variant for cells in shapes.values() for c in cells))
    width = 0.8 / max(len(names), 1)
    drawn = False
    for i, name in enumerate(names):
        xs, heights = [], []
        for x, cells in enumerate(shapes.values()):
            cell = next((c for c in cells if c.variant == name and c.ok), None)
            values = [v for v in map(measure, cell.repeats) if v is not None] if cell else []
            if values:
                xs.append(x + (i - (len(names) - 1) / 2) * width)
                heights.append(stats.summarize(values).median)
        ax.bar(xs, heights, width=width, label=name)
        drawn |= any(h > 0 for h in heights)
    ax.set_xticks(range(len(shapes)), list(shapes), rotation=15, ha="right", fontsize=8)
    if log and drawn:  # a log axis needs a bar above 0
        ax.set_yscale("log")
    ax.margins(y=0.25)  # room for the legend above the bars
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=min(len(names), 5))
