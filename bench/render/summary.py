"""The report's summary: one table per sweep of the plan (every figure of each cell of a
load shape, and the change against the reference variant), and the stability of the repeats."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from bench.analysis import efficiency, latency, stats
from bench.model.plan import Sweep, axis_value, by_axes
from bench.model.results import Cell, Repeat, Run, runs_of
from bench.model.roles import Role
from bench.render import details
from bench.render.markdown import TIMES, apart, fmt_1, fmt_3, fmt_ms, fmt_rps, table
from bench.render.page import Page

MAX_CV = 0.05
OVER_PGBENCH = "database CPU per request ÷ per pgbench query"


@dataclass(frozen=True)
class _Row:
    title: str
    measure: Callable[[Repeat], float | None]
    fmt: Callable[[float], str]
    higher_is_better: bool = False
    pooled: str | None = None  # a latency percentile taken from the pooled histograms


def _server(repeat: Repeat, attr: str) -> float | None:
    usage = repeat.usage.get("server")
    return getattr(usage, attr) if usage else None


ROWS = (
    _Row("throughput (rps)", lambda r: r.load.rps, fmt_rps, higher_is_better=True),
    _Row("p50 (ms)", lambda r: r.load.latency_ms.get("p50"), fmt_ms, pooled="p50"),
    _Row("p99 (ms)", lambda r: r.load.latency_ms.get("p99"), fmt_ms, pooled="p99"),
    _Row("p99.9 (ms)", lambda r: r.load.latency_ms.get("p99.9"), fmt_ms, pooled="p99.9"),
    _Row("peak memory (MiB)", lambda r: _server(r, "peak_rss_mib"), fmt_1),
    _Row("peak CPU (%)", lambda r: _server(r, "cpu_peak_pct"), fmt_1),
)
# What a request costs: shown where the run accounted CPU seconds (newer runs)
COSTS: dict[Role, str] = {"server": "server", "database": "database", "loadgen": "oha"}
COST_ROWS = (
    *(
        _Row(f"{name} CPU per request (ms)", partial(efficiency.cpu_ms_per_request, role=r), fmt_3)
        for r, name in COSTS.items()
    ),
    _Row("rps per MiB of server memory", efficiency.rps_per_mib, fmt_1, higher_is_better=True),
)
SWEEP_ROWS = (ROWS[0], ROWS[2])  # throughput and p99 for sweeps over several shapes


def sweeps(page: Page) -> str:
    """A section per sweep of the plan, each readable on its own."""
    run = page.run
    return "\n\n".join(
        _sweep(i, sweep, run, page.reference) for i, sweep in enumerate(run.plan.sweeps, 1)
    )


def value(cell: Cell, row: _Row) -> float | None:
    """What a table shows for `row`: a latency percentile of the pooled distribution of every
    repeat's requests where the run recorded them, else the median over repeats."""
    return (
        latency.latency_ms(cell, row.pooled)
        if row.pooled
        else stats.median_over_repeats(cell, row.measure)
    )


def _sweep(number: int, sweep: Sweep, run: Run, reference: str | None) -> str:
    by_id = {c.id: c for c in run.cells if c.params.mode == "closed"}  # open loops: own section
    cells = [by_id[i] for i in sweep.cells if i in by_id]
    varying = {axis: values for axis, values in sweep.axes.items() if len(values) > 1}
    fixed = ", ".join(
        f"{a} {axis_value(v[0]) if v[0] != 'auto' else 'as each variant declares'}"
        + (" (SQLAlchemy pools)" if a == "overflow" else "")
        for a, v in sweep.axes.items()
        if len(v) == 1
    )
    parts = [f"## Sweep {number}: {sweep.name}", f"Every cell at {fixed}."]
    if not cells:
        return "\n\n".join([*parts, "No cell of this sweep was measured."])
    shapes = by_axes(cells, varying)
    if len(shapes) > 1:
        parts += [_sweep_table(row, shapes) for row in SWEEP_ROWS]
    else:
        runs = runs_of(cells)  # more than one: shards split by an older split
        parts.append(_main_table(cells, run, reference if len(runs) <= 1 else None))
        if len(runs) > 1 and reference:
            parts.append(f"These cells were {apart(runs)}: no change vs {reference} is given.")
    failed = [f"- `{c.variant}` ({c.label}) failed: {details.reason(c)}" for c in cells if not c.ok]
    return "\n\n".join(parts + (["\n".join(failed)] if failed else []))


def first_shape(run: Run) -> list[Cell]:
    """The closed-loop cells of the first sweep, in plan order (its table when it has one
    shape: the published one in the default profile)."""
    by_id = {c.id: c for c in run.cells if c.params.mode == "closed"}
    return [by_id[i] for i in run.plan.sweeps[0].cells if i in by_id] if run.plan.sweeps else []


def _main_table(cells: list[Cell], run: Run, reference: str | None) -> str:
    """Every figure of each cell of one shape, and the change vs the `reference` variant."""
    return table(*main_rows(cells, run, reference))


def main_rows(
    cells: list[Cell], run: Run, reference: str | None
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a shape's table: each row a title, then a figure per cell."""
    baseline = next((c for c in cells if c.variant == reference), None)
    header = ["", *(c.variant for c in cells)] + ([f"change vs {reference}"] if baseline else [])
    rows = []
    for row in (*ROWS, *COST_ROWS):
        medians = [value(c, row) for c in cells]
        if row in COST_ROWS and all(m is None for m in medians):
            continue  # a run from before CPU seconds were accounted
        line = [row.title, *(_fmt(row, m, c) for m, c in zip(medians, cells, strict=True))]
        if baseline:
            line.append(_change(row, cells, medians, value(baseline, row)))
        rows.append(line)
        if row is ROWS[0]:  # the throughput's spread, right below it
            rows += _spread(cells, bool(baseline))
    ratios = [efficiency.over_pgbench(c, run) for c in cells]
    if any(r is not None for r in ratios):
        shown = [f"{TIMES}{r:.2f}" if r else "n/a" for r in ratios]
        rows.append([OVER_PGBENCH, *shown] + [""] * bool(baseline))
    return header, rows


def _fmt(row: _Row, median: float | None, cell: Cell) -> str:
    return row.fmt(median) if median is not None else "n/a" if cell.ok else "failed"


def _spread(cells: list[Cell], baseline: bool) -> list[list[str]]:
    """The rows "95% interval" and "CV" of the throughput over repeats."""
    interval, cv = ["throughput 95% interval"], ["throughput CV"]
    for cell in cells:
        s = stats.summarize([r.load.rps for r in cell.repeats]) if cell.ok else None
        low, high = (s.ci_low, s.ci_high) if s else (None, None)
        interval.append(f"[{fmt_rps(low)}, {fmt_rps(high)}]" if low and high else "n/a")
        cv.append(f"{s.cv:.1%}" if s is not None and s.cv is not None else "n/a")
    return [interval + [""] * baseline, cv + [""] * baseline]


def _sweep_table(row: _Row, shapes: dict[str, list[Cell]]) -> str:
    names = list(dict.fromkeys(c.variant for cells in shapes.values() for c in cells))
    lines = []
    for key, cells in shapes.items():
        by_variant = {c.variant: c for c in cells}
        lines.append([key, *(_shown(by_variant.get(n), row) for n in names)])
    return f"**{row.title}**\n\n" + table(["", *names], lines)


def _shown(cell: Cell | None, row: _Row) -> str:
    """A cell's median as a table shows it: "-" where the variant has no such cell."""
    if cell is None:
        return "-"
    shown = value(cell, row)
    return "failed" if shown is None else row.fmt(shown)


def _change(row: _Row, cells: list[Cell], medians: list[float | None], base: float | None) -> str:
    scored = [(m, c.variant) for m, c in zip(medians, cells, strict=True) if m is not None]
    if not scored or base is None:
        return "n/a"
    best, name = max(scored) if row.higher_is_better else min(scored)
    factor = stats.ratio(best, base)
    if factor is None:
        return "n/a"
    return f"{TIMES}{factor:.0f} ({name})" if factor >= 100 else f"{TIMES}{factor:.3g} ({name})"


def stability(page: Page) -> str:
    """Which measured cells' throughput varied more than MAX_CV over their repeats."""
    return _stability(page.run.cells)


def _stability(cells: list[Cell]) -> str:
    unstable, single, stable = [], [], 0
    for cell in (c for c in cells if c.ok):
        summary = stats.summarize([r.load.rps for r in cell.repeats])
        if summary.cv is None:
            single.append(f"{cell.variant} ({cell.label})")
        elif not stats.stable(summary, MAX_CV):
            unstable.append(f"{cell.variant} ({cell.label}) CV {summary.cv:.1%}")
        else:
            stable += 1
    parts = []
    if unstable:
        parts.append(
            f"**unstable**, throughput CV above {MAX_CV:.0%}: " + ", ".join(unstable) + ". Hint: "
            "make sure nothing else runs on the machine (other benchmarks, builds), then run "
            "again with more repeats (`--repeats 5`); its interval is wider than it looks."
        )
    elif stable:
        parts.append(f"throughput CV at most {MAX_CV:.0%} in every measured cell.")
    if single:
        parts.append(f"Single repeat, CV unknown: {len(single)} cells.")
    return "**Stability**: " + " ".join(parts) if parts else ""
