"""The report's plots, SVG, drawn with matplotlib from a Run alone (results.json).

Readable in GitHub's light and dark themes: a transparent background, mid-grey ink, and one
colour per variant in every plot. Each cell's marks carry its id (an SVG `id`), so a test can
check that every cell is drawn; a caption names the run and the machine.

- throughput: per sweep, a bar per variant and shape, whiskers the 95% interval;
- latency: percentile curves p50 to p99.99 on an axis of 1/(1 - p), closed loop per shape,
  open loop per closed cell's shape;
- concurrency, payload: throughput against the axis, for the sweeps that vary it;
- open-loop: p50 and p99 against the offered rate (saturated rates hollow);
- memory: the server's peak RSS per cell;
- database: each cell's throughput as a fraction of the database ceiling (pgbench);
- efficiency: throughput against the server's CPU per request and against its peak memory.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers or in CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.analysis import ceilings, efficiency, latency, openloop, stats
from bench.model.plan import CellSpec, Sweep, axis_value, by_axes
from bench.model.results import Cell, Run
from bench.render.style import INK, STYLE, caption, log_scale, palette

LABELLED = 12  # bars per panel that still have room for their values
TICKS = (50.0, 90.0, 99.0, 99.9, 99.99)
CellValue = Callable[[Cell], tuple[float, float | None, float | None] | None]

TITLES = {
    "throughput": "Throughput per cell",
    "latency": "Latency percentiles",
    "concurrency": "Throughput against concurrency",
    "payload": "Throughput against payload size",
    "open-loop": "Latency against offered rate",
    "memory": "Peak memory per cell",
    "database": "Share of the database ceiling",
    "efficiency": "Throughput against what a request costs",
}


def draw(run: Run, out_dir: Path) -> dict[str, str]:
    """Write each plot the run has data for as `<name>.svg` into `out_dir`; return title ->
    file name, in reading order (none when no cell was measured)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not any(c.ok for c in run.cells):
        return {}
    colours = palette(run)
    makers: dict[str, Callable[[Run, dict[str, str]], Figure | None]] = {
        "throughput": lambda r, c: _per_cell(r, c, _rps, "requests per second (median, 95% CI)"),
        "latency": _latency,
        "concurrency": lambda r, c: _against(r, c, "concurrency", "concurrency (oha -c)"),
        "payload": lambda r, c: _against(r, c, "limit", "rows per response"),
        "open-loop": _open_loop,
        "memory": lambda r, c: _per_cell(r, c, _memory, "server peak RSS, MiB (median)"),
        "database": _database,
        "efficiency": _efficiency,
    }
    files = {}
    with matplotlib.rc_context(STYLE):
        for name, make in makers.items():
            fig = make(run, colours)
            if fig is None:
                continue
            fig.suptitle(TITLES[name], fontsize=11)
            fig.text(0.01, 0.005, caption(run), fontsize=7, ha="left", va="bottom")
            inches = fig.get_figheight()  # title and caption keep their room in tall figures
            fig.tight_layout(rect=(0, 0.25 / inches, 1, 1 - 0.35 / inches))
            fig.savefig(out_dir / f"{name}.svg", format="svg", metadata={"Date": None})
            plt.close(fig)
            files[TITLES[name]] = f"{name}.svg"
    return files


def _variants(cells: Sequence[CellSpec]) -> list[str]:
    return list(dict.fromkeys(c.variant for c in cells))


def _closed(run: Run, sweep: Sweep) -> list[Cell]:
    by_id = {c.id: c for c in run.cells if c.params.mode == "closed"}
    return [by_id[i] for i in sweep.cells if i in by_id]


def _grid(panels: int, height: float = 3.4, columns: int = 1) -> tuple[Figure, list[Axes]]:
    rows = -(-panels // columns)
    fig, axes = plt.subplots(
        rows, columns, squeeze=False, figsize=(10, 0.6 + height * rows), layout=None
    )
    flat = list(axes.flat)
    for extra in flat[panels:]:
        extra.set_visible(False)
    return fig, flat[:panels]


def _summary(values: list[float]) -> tuple[float, float | None, float | None] | None:
    if not values:
        return None
    s = stats.summarize(values)
    return s.median, s.ci_low, s.ci_high


def _rps(cell: Cell) -> tuple[float, float | None, float | None] | None:
    return _summary([r.load.rps for r in cell.repeats]) if cell.ok else None


def _memory(cell: Cell) -> tuple[float, float | None, float | None] | None:
    peaks = [r.usage["server"].peak_rss_mib for r in cell.repeats if "server" in r.usage]
    found = _summary(peaks) if cell.ok else None
    return (found[0], None, None) if found else None


def _per_cell(
    run: Run, colours: dict[str, str], value: CellValue, ylabel: str, fmt: str = "%.0f"
) -> Figure | None:
    """One panel per sweep: a bar per cell grouped by shape, whiskers where given."""
    sweeps = [s for s in run.plan.sweeps if _closed(run, s)]
    if not sweeps:
        return None
    fig, axes = _grid(len(sweeps))
    for ax, sweep in zip(axes, sweeps, strict=True):
        cells = _closed(run, sweep)
        varying = {a: v for a, v in sweep.axes.items() if len(v) > 1}
        shapes = by_axes(cells, varying) if varying else {_shape(cells[0]): cells}
        _bars(ax, shapes, value, colours, fmt)
        failed = sum(not c.ok for c in cells)
        ax.set_title(sweep.name + _not_drawn(failed))
        ax.set_ylabel(ylabel)
    return fig


def _not_drawn(failed: int) -> str:
    """A title's note of the failed cells it leaves out."""
    return f" ({failed} failed cell{'s' * (failed > 1)} not drawn)" if failed else ""


def _shape(cell: Cell) -> str:
    """The load shape every cell of a single-shape sweep shares."""
    p = cell.params
    return f"c={p.concurrency} keepalive={axis_value(p.keepalive)} limit={p.limit}"


def _bars(
    ax: Axes,
    shapes: dict[str, list[Cell]],
    value: CellValue,
    colours: dict[str, str],
    fmt: str,
) -> None:
    names = _variants([c for cells in shapes.values() for c in cells])
    width = 0.8 / max(len(names), 1)
    labelled: set[str] = set()  # a variant's first bar names it in the legend
    for i, name in enumerate(names):
        for x, cells in enumerate(shapes.values()):
            cell = next((c for c in cells if c.variant == name), None)
            found = value(cell) if cell else None
            if cell is None or found is None:
                continue
            middle, low, high = found
            whisker = None
            if low is not None and high is not None:
                whisker = [[max(middle - low, 0)], [max(high - middle, 0)]]
            bars = ax.bar(
                [x + (i - (len(names) - 1) / 2) * width],
                [middle],
                width=width,
                color=colours[name],
                yerr=whisker,
                ecolor=INK,
                capsize=3,
                label=None if name in labelled else name,
            )
            labelled.add(name)
            bars.patches[0].set_gid(cell.id)
            if len(names) * len(shapes) <= LABELLED:
                ax.bar_label(bars, fmt=fmt, fontsize=7, color=INK, padding=2)
    ax.set_xticks(range(len(shapes)), list(shapes), rotation=15, ha="right")
    ax.margins(y=0.25)  # room for the legend above the bars
    ax.grid(axis="y")
    ax.legend(fontsize=7, ncols=min(len(names), 5), loc="upper left")


def _percentile_axis(ax: Axes) -> None:
    """An x axis of 1/(1 - p), log scale, ticks at p50 ... p99.99."""
    log_scale(ax)
    ax.set_xticks([1 / (1 - p / 100) for p in TICKS], [f"p{p:g}" for p in TICKS])
    ax.set_xlabel("percentile (axis: 1 / (1 - p))")
    ax.set_ylabel("latency, ms (log)")
    ax.grid(which="major")


def _latency(run: Run, colours: dict[str, str]) -> Figure | None:
    """Closed loop: a panel per sweep and shape; open loop: a panel per closed shape."""
    panels: list[tuple[str, list[Cell]]] = []
    for sweep in run.plan.sweeps:
        varying = {a: v for a, v in sweep.axes.items() if len(v) > 1}
        for shape, cells in by_axes(_closed(run, sweep), varying).items():
            title = f"{sweep.name}, closed loop" + (f", {shape}" if varying else "")
            panels.append((title, cells))
    opened: dict[str, list[Cell]] = {}
    for cell in (c for c in run.cells if c.params.mode == "open"):
        opened.setdefault(f"open loop, {_shape(cell)}", []).append(cell)
    panels += list(opened.items())
    panels = [(t, cells) for t, cells in panels if any(latency.curve(c) for c in cells)]
    if not panels:
        return None
    fig, axes = _grid(len(panels), height=3.6, columns=2 if len(panels) > 1 else 1)
    styles = ("-", "--", ":", "-.")
    for ax, (title, cells) in zip(axes, panels, strict=True):
        rates = sorted({c.params.rate or 0.0 for c in cells})
        for cell in cells:
            points = latency.curve(cell)
            if not points:
                continue
            label = cell.variant
            if cell.params.mode == "open":
                label += f" @{cell.params.rate:.0%}"
            (line,) = ax.plot(
                [1 / (1 - p / 100) for p, _ in points],
                [ms for _, ms in points],
                styles[rates.index(cell.params.rate or 0.0) % len(styles)],
                color=colours[cell.variant],
                marker=".",
                label=label,
            )
            line.set_gid(cell.id)
        _percentile_axis(ax)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6, ncols=2, loc="best")
    return fig


def _against(run: Run, colours: dict[str, str], axis: str, xlabel: str) -> Figure | None:
    """Throughput against `axis` for each sweep that varies it; other varying axes (keepalive,
    say) get their own line style."""
    sweeps = [s for s in run.plan.sweeps if len(s.axes.get(axis, [])) > 1 and _closed(run, s)]
    if not sweeps:
        return None
    fig, axes = _grid(len(sweeps))
    styles = ("-", "--", ":", "-.")
    for ax, sweep in zip(axes, sweeps, strict=True):
        others = {a: v for a, v in sweep.axes.items() if len(v) > 1 and a != axis}
        lines = by_axes(_closed(run, sweep), others)
        for n, (group, cells) in enumerate(lines.items()):
            for name in _variants(cells):
                mine = sorted(
                    (c for c in cells if c.variant == name and c.ok),
                    key=lambda c: getattr(c.params, axis),
                )
                found = [(c, _rps(c)) for c in mine]
                points = [(c, v) for c, v in found if v is not None]
                if not points:
                    continue
                label = name + (f", {group}" if others else "")
                xs = [getattr(c.params, axis) for c, _ in points]
                (line,) = ax.plot(
                    xs,
                    [v[0] for _, v in points],
                    styles[n % len(styles)],
                    marker="o",
                    color=colours[name],
                    label=label,
                )
                line.set_gid("-".join(c.id for c, _ in points))
        log_scale(ax, "x")
        ax.set_xticks(sorted({v for v in sweep.axes[axis] if isinstance(v, int)}))
        ax.set_xlabel(xlabel + " (log)")
        ax.set_ylabel("requests per second (median)")
        ax.set_title(sweep.name)
        ax.grid()
        ax.legend(fontsize=7, ncols=2)
    return fig


def _open_loop(run: Run, colours: dict[str, str]) -> Figure | None:
    """p50 and p99 against the offered rate, per variant; a saturated rate is hollow."""
    opened = [c for c in run.cells if c.params.mode == "open"]
    cells = [c for c in opened if c.open_loop and c.ok]
    if not cells:
        return None
    failed = _not_drawn(len(opened) - len(cells))
    fig, axes = _grid(2, height=3.2)
    for ax, key in zip(axes, ("p50", "p99"), strict=True):
        for name in _variants(cells):
            mine = sorted((c for c in cells if c.variant == name), key=lambda c: c.params.rate or 0)
            points = []
            for cell in mine:
                assert cell.open_loop is not None
                offered, got = cell.open_loop.offered_rps, ceilings.rps(cell)
                ms = latency.latency_ms(cell, key)
                if got is None or ms is None:
                    continue
                full = openloop.saturated(offered, got)
                points.append((offered, ms))
                ax.plot(
                    [offered],
                    [ms],
                    "o",
                    color=colours[name],
                    markerfacecolor="none" if full else colours[name],
                    gid=cell.id,
                )
            if points:
                ax.plot(*zip(*points, strict=True), "-", color=colours[name], label=name)
        log_scale(ax)
        ax.set_xlabel("offered rate, requests per second (log)")
        ax.set_ylabel(f"{key} latency, ms (log)")
        ax.set_title(f"{key} from each request's intended send time (hollow: saturated){failed}")
        ax.grid()
        ax.legend(fontsize=7, ncols=3)
    return fig


def _database(run: Run, colours: dict[str, str]) -> Figure | None:
    """Each closed cell's median throughput over the database ceiling, 1.0 marked."""
    if ceilings.probe(run, "database") is None:
        return None

    def share(cell: Cell) -> tuple[float, float | None, float | None] | None:
        found = ceilings.share_of_database(cell, run)
        return (found, None, None) if found is not None else None

    fig = _per_cell(run, colours, share, "throughput / database ceiling", "%.2f")
    if fig is not None:
        for ax in fig.axes:
            ax.axhline(1.0, color=INK, linestyle="--", linewidth=1)
    return fig


def _efficiency(run: Run, colours: dict[str, str]) -> Figure | None:
    """Each closed cell's median throughput against its server's CPU milliseconds per request
    (left) and its server's peak memory (right, log): up and to the left is cheaper."""
    points = []
    for cell in (c for c in run.cells if c.ok and c.params.mode == "closed"):
        cpu = efficiency.median_cpu_ms(cell, "server")
        memory = stats.median_over_repeats(cell, efficiency.server_peak_mib)
        rps = stats.median_over_repeats(cell, lambda r: r.load.rps)
        if cpu is not None and memory is not None and rps is not None:
            points.append((cell, cpu, memory, rps))
    if not points:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    for cell, cpu, memory, rps in points:
        for ax, x in ((left, cpu), (right, memory)):
            ax.scatter([x], [rps], color=colours[cell.variant], label=cell.variant, gid=cell.id)
    left.set_xlabel("server CPU per request (ms, median)")
    right.set_xlabel("server peak RSS (MiB, median, log)")
    log_scale(right, "x")
    for ax in (left, right):
        ax.set_ylabel("requests per second (median)")
        ax.set_ylim(bottom=0)
        ax.grid()
    handles = {h.get_label(): h for h in left.collections}  # one entry per variant
    left.legend(handles.values(), handles.keys(), fontsize=7)
    return fig
