"""The report's head: one plot of throughput and p99 per variant with their intervals, and one
sentence stating the run's main finding with its verdict (numbers in
`bench.analysis.headline`; an A/B run's finding is its head ÷ baseline)."""

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers or in CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.analysis import ab
from bench.analysis.headline import Finding, Headline, Interval, Point, headline, log_axis
from bench.model.results import Run
from bench.render import style, verdict
from bench.render.markdown import TIMES, fmt_ms, fmt_rps
from bench.render.page import Page

TITLE = "Throughput and p99 latency per variant"
FILE = "headline.svg"


def draw(run: Run, out_dir: Path, reference: str | None) -> dict[str, str]:
    """Write the headline plot as headline.svg into `out_dir`; return {TITLE: file name}, or
    nothing when no closed-loop cell was measured."""
    found = headline(run, reference)
    if found is None:
        return {}
    colours = style.palette(run)
    with matplotlib.rc_context(style.STYLE):
        fig = figure(found, colours)
        fig.suptitle(f"{TITLE} ({found.shape})", fontsize=11)
        fig.text(0.01, 0.01, style.caption(run), fontsize=7, ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.06, 1, 0.95))
        fig.savefig(out_dir / FILE, format="svg", metadata={"Date": None})
        plt.close(fig)
    return {TITLE: FILE}


def figure(found: Headline, colours: dict[str, str]) -> Figure:
    """Two panels side by side: throughput, then p99 (when every point has one)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 2.9))
    points = found.points
    _panel(left, points, [p.rps for p in points], colours, "requests per second", fmt_rps)
    p99 = [p.p99_ms for p in points]
    if all(p is not None for p in p99):
        drawn = [p for p in p99 if p is not None]
        _panel(right, points, drawn, colours, "p99 latency (ms), lower is better", fmt_ms)
    else:
        right.set_visible(False)
    return fig


def _panel(
    ax: Axes,
    points: tuple[Point, ...],
    values: list[Interval],
    colours: dict[str, str],
    xlabel: str,
    fmt: Callable[[float], str],
) -> None:
    """Horizontal bars, one per variant (first on top), whiskers the 95% interval (cut at the
    axis's left end: an interval of two repeats may reach below zero), each value beside it."""
    log = log_axis([v.median for v in values])
    floor = min(v.median for v in values) / 3 if log else 0.0
    rows = range(len(points))[::-1]
    for y, point, value in zip(rows, points, values, strict=True):
        whisker, right = None, value.median
        if value.low is not None and value.high is not None:
            whisker = [[value.median - max(value.low, floor)], [value.high - value.median]]
            right = value.high
        bars = ax.barh(
            [y], [value.median], xerr=whisker, color=colours.get(point.variant, style.INK),
            ecolor=style.INK, capsize=3, height=0.6,
        )  # fmt: skip
        bars.patches[0].set_gid(f"{point.cell_id}-{xlabel.split()[0]}")
        ax.annotate(
            fmt(value.median), (right, y), xytext=(5, 0), textcoords="offset points",
            va="center", fontsize=7, color=style.INK,
        )  # fmt: skip
    ax.set_yticks(list(rows), [p.variant for p in points])
    if log:
        style.log_scale(ax, "x")
        xlabel += ", log scale"
    ax.set_xlim(left=floor)
    ax.margins(x=0.25)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x")


def section(page: Page) -> str:
    """The sentence and the plot, or "" when no closed-loop cell was measured."""
    run = page.run
    found = headline(run, page.reference)
    if found is None:
        return ""
    sentence = _ab(run) if run.plan.baseline is not None else _sentence(found)
    plot = f"![{TITLE}]({page.plots[TITLE]})" if TITLE in page.plots else ""
    return "\n\n".join(p for p in (f"**{sentence}**", plot) if p)


def _sentence(found: Headline) -> str:
    finding = found.finding
    if finding is None:
        (only,) = found.points
        p99 = f", p99 {fmt_ms(only.p99_ms.median)} ms" if only.p99_ms else ""
        return f"Only {only.variant} was measured: {fmt_rps(only.rps.median)} rps{p99}."
    return _compared(finding)


def _compared(f: Finding) -> str:
    best, other = f.best, f.against
    p99 = ""
    if f.p99_ratio is not None and best.p99_ms and other.p99_ms:
        p99 = (
            f" at {TIMES}{f.p99_ratio:.2g} its p99 latency ({fmt_ms(best.p99_ms.median)} "
            f"against {fmt_ms(other.p99_ms.median)} ms)"
        )
    repeats = min(best.repeats, other.repeats)
    return (
        f"{best.variant} served {TIMES}{f.ratio:.3g} the throughput of {other.variant} "
        f"({fmt_rps(best.rps.median)} against {fmt_rps(other.rps.median)} rps, medians of "
        f"{repeats} repeat{'s' * (repeats > 1)}){p99}. Welch's t-test over the repeats' "
        f"throughput: {verdict.text(f.verdict)}."
    )


def _ab(run: Run) -> str:
    """An A/B run's main finding: how many closed-loop cells changed, and the largest move."""
    closed = [p for p in ab.pairs(run) if p.mode == "closed" and p.throughput.ratio is not None]
    if not closed:
        return "Head ÷ baseline: no closed-loop cell was measured on both sides."
    moved = [p for p in closed if p.throughput.verdict.significant]
    largest = max(closed, key=lambda p: abs((p.throughput.ratio or 1) - 1))
    return (
        f"Head ÷ baseline: {len(moved)} of {len(closed)} closed-loop cells changed "
        f"significantly in throughput; the largest move, {largest.variant} "
        f"{TIMES}{largest.throughput.ratio:.3g}: {verdict.text(largest.throughput.verdict)} "
        "(paired t-test over rounds, Bonferroni-adjusted)."
    )
