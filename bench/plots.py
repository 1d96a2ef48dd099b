"""Plots for the report, drawn from a Run alone: throughput and latency per variant.

One panel per load shape, variants in the order they ran; failed cells are left out of the
bars and named in the panel title.
"""

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers or in CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench import stats
from bench.results import Cell, Run, by_shape

PERCENTILES = ("p50", "p99", "p99.9")
_Drawer = Callable[[Axes, list[Cell]], None]


def draw(run: Run, out_dir: Path) -> dict[str, str]:
    """Write throughput.png and latency.png into `out_dir`; return name -> file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"throughput": "throughput.png", "latency": "latency.png"}
    for name, drawer in (("throughput", _throughput), ("latency", _latency)):
        fig = _figure(run, drawer)
        fig.savefig(out_dir / files[name], dpi=110)
        plt.close(fig)
    return files


def _figure(run: Run, drawer: _Drawer) -> Figure:
    shapes = by_shape(run.cells)
    fig, axes = plt.subplots(
        1, max(len(shapes), 1), squeeze=False, figsize=(1.0 + 5.5 * max(len(shapes), 1), 4.5)
    )
    for ax, (label, cells) in zip(axes[0], shapes.items(), strict=False):
        drawer(ax, cells)
        failed = [c.variant for c in cells if not c.ok]
        ax.set_title(label + (f"\nfailed: {', '.join(failed)}" if failed else ""), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{run.run_id} ({run.profile})", fontsize=11)
    fig.tight_layout()
    return fig


def _throughput(ax: Axes, cells: list[Cell]) -> None:
    good = [c for c in cells if c.ok]
    for x, cell in enumerate(good):
        values = [r.load.rps for r in cell.repeats]
        bars = ax.bar(x, stats.summarize(values).median, color="tab:blue", alpha=0.6, width=0.6)
        ax.bar_label(bars, fmt="%.0f", padding=3, fontsize=8)
        ax.scatter([x] * len(values), values, color="black", s=14, zorder=3)
    ax.set_xticks(range(len(good)), [c.variant for c in good], rotation=20, ha="right")
    ax.set_ylabel("requests per second (bar: median, dots: repeats)")


def _latency(ax: Axes, cells: list[Cell]) -> None:
    good = [c for c in cells if c.ok]
    width = 0.8 / len(PERCENTILES)
    for i, key in enumerate(PERCENTILES):
        medians = [_median_latency(c, key) for c in good]
        xs = [x + (i - (len(PERCENTILES) - 1) / 2) * width for x in range(len(good))]
        bars = ax.bar(xs, medians, width=width, label=key)
        ax.bar_label(bars, fmt="%.3g", padding=2, fontsize=7)
    ax.set_xticks(range(len(good)), [c.variant for c in good], rotation=20, ha="right")
    ax.set_yscale("log")
    ax.grid(axis="y", which="minor", alpha=0.15)
    ax.set_ylabel("latency, ms (median over repeats, log scale)")
    ax.legend(fontsize=8)


def _median_latency(cell: Cell, key: str) -> float:
    values = [r.load.latency_ms[key] for r in cell.repeats if key in r.load.latency_ms]
    return stats.summarize(values).median if values else float("nan")
