"""The look every plot of a report shares: transparent, mid-grey ink (legible in GitHub's light
and dark themes), one colour per variant, a caption naming the run and the machine, log axes
with plain-number ticks."""

from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.typing import RcKeyType

from bench.model.results import Run

INK = "#8b949e"  # GitHub's muted grey: legible on its light and dark backgrounds
STYLE: dict[RcKeyType, Any] = {
    "figure.facecolor": "none",
    "axes.facecolor": "none",
    "savefig.transparent": True,
    "svg.fonttype": "none",  # text stays text: smaller files, searchable labels
    "svg.hashsalt": "pybench",  # the same run draws the same file (no random clip-path ids)
    "font.size": 9,
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": INK,
    "axes.titlecolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "grid.color": INK,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}
PALETTE = [matplotlib.colors.to_hex(c) for c in matplotlib.color_sequences["tab10"]]


def palette(run: Run) -> dict[str, str]:
    """One colour per variant of the plan, the same in every plot of the run."""
    names = dict.fromkeys(c.variant for c in run.plan.cells)
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def caption(run: Run) -> str:
    """The line under every plot: the run, its profile and the machine."""
    return f"run {run.run_id}, profile {run.profile}; {run.metadata.cpu.label()}"


def log_scale(ax: Axes, which: str = "xy") -> None:
    """Log scale on `which` axes, ticks as plain numbers (2000, not 2 x 10^3)."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for name in which:
        axis = ax.xaxis if name == "x" else ax.yaxis
        getattr(ax, f"set_{name}scale")("log")
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(NullFormatter())
