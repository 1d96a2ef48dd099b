"""Markdown report from results.json alone.

`render` is pure (a Run in, Markdown out); `write_report` does the file I/O: it loads a run
folder's results.json, draws the plots beside it and writes report.md and the same as one page,
report.html (bench/render/html.py). One section per sweep of the plan, so each sweep reads on
its own; per-cell details are folded below.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.analysis import efficiency, latency, stats
from bench.model.plan import Sweep, axis_value, by_axes
from bench.model.results import Cell, Repeat, Run, runs_of
from bench.model.roles import Role
from bench.model.store import load
from bench.render import ab, canary, details, flame, limits, openloop, plots, reproduction, soak
from bench.render.html import write_page
from bench.render.markdown import TIMES, apart, fmt_1, fmt_3, fmt_ms, fmt_rps, fold_long, table

BASELINE = "fastapi-sync"
MAX_CV = 0.05
MEASURED = (
    'Each server answers `GET /users` with `SELECT * FROM "users" ORDER BY user_id LIMIT n` '
    "(n = the cell's limit, 100 as published) against a local Postgres, through its pool; oha "
    "drives it in a closed loop (each connection sends its next request when the previous "
    "answer arrives), and in open-loop cells at fixed rates (below). Throughput, memory and "
    "CPU are medians over repeats; latency percentiles come from the pooled distribution of "
    "every request of every repeat (where the run recorded them)."
)


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


def render(run: Run, plot_files: dict[str, str] | None = None) -> str:
    """The Markdown report for `run`; `plot_files` maps plot name -> file name beside it."""
    if run.soak is not None:
        parts = [
            soak.title(run),
            soak.section(run.soak),
            details.machine(run),
            details.variants(run),
        ]
        return "\n\n".join(parts) + "\n"
    if run.flamegraphs and not run.cells:  # `python -m bench flamegraph`
        parts = [flame.title(run), flame.section(run), details.machine(run), details.variants(run)]
        return "\n\n".join(parts) + "\n"
    parts = [_title(run), _missing(run), ab.section(run), reproduction.section(run)]
    parts += [_sweep(i, sweep, run) for i, sweep in enumerate(run.plan.sweeps, 1)]
    parts += [_stability(run.cells), canary.section(run), _plots(plot_files)]
    parts += [openloop.section(run), limits.section(run), flame.section(run)]
    parts += [_what_ran(run.cells), _skips(run)]
    parts += [details.machine(run), details.variants(run)]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_report(run_dir: Path) -> Path:
    """Load `run_dir/results.json`, draw the plots beside it and write `run_dir/report.md` and
    `run_dir/report.html` (nothing outside `run_dir`); return the Markdown report."""
    run = load(run_dir / "results.json")
    plot_files = plots.draw(run, run_dir)
    path = run_dir / "report.md"
    path.write_text(render(run, plot_files))
    write_page(path)
    return path


def value(cell: Cell, row: _Row) -> float | None:
    """What a table shows for `row`: a latency percentile of the pooled distribution of every
    repeat's requests where the run recorded them, else the median over repeats."""
    return (
        latency.latency_ms(cell, row.pooled)
        if row.pooled
        else stats.median_over_repeats(cell, row.measure)
    )


def _title(run: Run) -> str:
    started = run.metadata.started_at or "unknown date"
    text = f"# Benchmark run {run.run_id}\n\nProfile `{run.profile}`, {started}. {MEASURED}"
    if run.plan.note:
        text += f"\n\n{run.plan.note}"
    if run.plan.seed is not None:
        text += (
            f" Each round ran the cells in its own order, shuffled from seed {run.plan.seed} "
            f"(`--seed {run.plan.seed}` repeats it)."
        )
    if shard := run.plan.shard:
        text += f"\n\nThis run is shard {shard.index}/{shard.count} of plan `{run.plan.plan_id}`."
    return text


def _missing(run: Run) -> str:
    if not run.missing:
        return ""
    planned = {c.id: c for c in run.plan.cells}
    lines = [f"- {planned[i].variant}, {planned[i].label} (`{i}`)" for i in run.missing]
    return f"**Missing**: {len(lines)} planned cells were not measured:\n\n" + "\n".join(lines)


def _sweep(number: int, sweep: Sweep, run: Run) -> str:
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
        parts.append(_main_table(cells, run, compare=len(runs) <= 1))
        if len(runs) > 1:
            parts.append(f"These cells were {apart(runs)}: no change vs {BASELINE} is given.")
    failed = [f"- `{c.variant}` ({c.label}) failed: {details.reason(c)}" for c in cells if not c.ok]
    return "\n\n".join(parts + (["\n".join(failed)] if failed else []))


def _main_table(cells: list[Cell], run: Run, compare: bool = True) -> str:
    """Every figure of each cell of one shape, and the change vs BASELINE where `compare`."""
    baseline = next((c for c in cells if c.variant == BASELINE), None) if compare else None
    header = ["", *(c.variant for c in cells)] + (["change vs " + BASELINE] if baseline else [])
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
        rows.append(
            ["database CPU per request ÷ per pgbench query", *shown] + [""] * bool(baseline)
        )
    return table(header, rows)


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


READ_BACK = ("server", "loop", "http", "driver")


def _what_ran(cells: list[Cell]) -> str:
    """What each cell's server said it runs (/health) and the workers counted from /proc."""
    rows = []
    for c in cells:
        if not c.server:
            continue
        said = c.server.reported
        pool = f"{said.get('pool', '?')}" + (f"+{said['overflow']}" if said.get("overflow") else "")
        workers = str(c.server.workers) if c.server.workers is not None else "-"
        read = [str(said.get(k, "-")) for k in READ_BACK]
        rows.append([c.variant, c.label, *read, pool, workers, str(c.server.database_connections)])
    if not rows:
        return ""
    header = ["variant", "cell", *READ_BACK, "pool", "workers", "DB connections (max)"]
    intro = (
        "## What ran\n\nRead back from each running server: its `/health` answer (server, "
        "event loop, HTTP parser, driver, pool) and its worker processes counted from /proc."
    )
    return f"{intro}\n\n{fold_long('Servers per cell', table(header, rows), len(rows))}"


def _skips(run: Run) -> str:
    if not run.plan.skips:
        return ""
    lines = [f"- {s.variant} at {s.text()}: {s.reason}" for s in run.plan.skips]
    return f"## Skipped\n\n{len(lines)} combinations were not planned:\n\n" + "\n".join(lines)


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


def _plots(plot_files: dict[str, str] | None) -> str:
    if not plot_files:
        return ""
    images = [f"![{title}]({file})" for title, file in plot_files.items()]
    return "## Plots\n\n" + "\n\n".join(images)
