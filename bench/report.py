"""Markdown report from results.json alone.

`render` is pure (a Run in, Markdown out); `write_report` does the file I/O: it loads a run
folder's results.json, draws the plots beside it and writes report.md.
"""

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import plots, results, stats
from bench.results import Cell, Repeat, Run, by_shape

BASELINE = "fastapi-sync"
TIMES = "\N{MULTIPLICATION SIGN}"
MAX_CV = 0.05
ROLES = ("server", "database", "loadgen")
_DB_KEYS = ("db_provider", "postgres")
MEASURED = (
    'Each server answers `GET /users` with `SELECT * FROM "users" ORDER BY user_id LIMIT 100` '
    "against a local Postgres, through a pool of at most 5 connections; oha drives it in a "
    "closed loop (each connection sends its next request when the previous answer arrives). "
    "Values are medians over repeats."
)


def _fmt_rps(value: float) -> str:
    return f"{value:.0f}"


def _fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _fmt_1(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True)
class _Row:
    title: str
    measure: Callable[[Repeat], float | None]
    fmt: Callable[[float], str]
    higher_is_better: bool = False


def _server(repeat: Repeat, attr: str) -> float | None:
    usage = repeat.usage.get("server")
    return getattr(usage, attr) if usage else None


ROWS = (
    _Row("throughput (rps)", lambda r: r.load.rps, _fmt_rps, higher_is_better=True),
    _Row("p50 (ms)", lambda r: r.load.latency_ms.get("p50"), _fmt_ms),
    _Row("p99 (ms)", lambda r: r.load.latency_ms.get("p99"), _fmt_ms),
    _Row("p99.9 (ms)", lambda r: r.load.latency_ms.get("p99.9"), _fmt_ms),
    _Row("peak memory (MiB)", lambda r: _server(r, "peak_rss_mib"), _fmt_1),
    _Row("peak CPU (%)", lambda r: _server(r, "cpu_peak_pct"), _fmt_1),
)


def render(run: Run, plot_files: dict[str, str] | None = None) -> str:
    """The Markdown report for `run`; `plot_files` maps plot name -> file name beside it."""
    parts = [_title(run)]
    for label, cells in by_shape(run.cells).items():
        parts.append(_main_table(label, cells))
    parts += [_stability(run.cells), _machine(run), _variants(run), _plots(plot_files)]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_report(run_dir: Path) -> Path:
    """Load `run_dir/results.json`, draw the plots and write `run_dir/report.md`; return it."""
    run = results.load(run_dir / "results.json")
    plot_files = plots.draw(run, run_dir)
    path = run_dir / "report.md"
    path.write_text(render(run, plot_files))
    return path


def _median(cell: Cell, measure: Callable[[Repeat], float | None]) -> float | None:
    values = [v for v in map(measure, cell.repeats) if v is not None]
    return stats.summarize(values).median if cell.ok and values else None


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(_escape(c) for c in line) + " |" for line in lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _title(run: Run) -> str:
    started = _dict(run.metadata).get("started_at", "unknown date")
    return f"# Benchmark run {run.run_id}\n\nProfile `{run.profile}`, {started}. {MEASURED}"


def _main_table(label: str, cells: list[Cell]) -> str:
    baseline = next((c for c in cells if c.variant == BASELINE), None)
    header = ["", *(c.variant for c in cells)] + (["change vs " + BASELINE] if baseline else [])
    rows = []
    for row in ROWS:
        medians = [_median(c, row.measure) for c in cells]
        line = [row.title, *(row.fmt(m) if m is not None else "failed" for m in medians)]
        if baseline:
            line.append(_change(row, cells, medians, _median(baseline, row.measure)))
        rows.append(line)
    parts = [f"## Results, {label}", _table(header, rows)]
    failed = [f"- `{c.variant}` failed: {_reason(c)}" for c in cells if not c.ok]
    return "\n\n".join(parts + (["\n".join(failed)] if failed else []))


def _change(row: _Row, cells: list[Cell], medians: list[float | None], base: float | None) -> str:
    scored = [(m, c.variant) for m, c in zip(medians, cells, strict=True) if m is not None]
    if not scored or base is None:
        return "n/a"
    best, name = max(scored) if row.higher_is_better else min(scored)
    factor = stats.ratio(best, base)
    if factor is None:
        return "n/a"
    return f"{TIMES}{factor:.0f} ({name})" if factor >= 100 else f"{TIMES}{factor:.3g} ({name})"


def _reason(cell: Cell) -> str:
    if cell.error:
        return cell.error
    if not cell.repeats:
        return "no repeats were measured"
    return "; ".join(f"repeat {r.index}: {r.failure}" for r in cell.repeats if r.failure)


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
        parts.append(f"throughput CV above {MAX_CV:.0%}: " + ", ".join(unstable) + ".")
    elif stable:
        parts.append(f"throughput CV at most {MAX_CV:.0%} in every measured cell.")
    if single:
        parts.append("Single repeat, CV unknown: " + ", ".join(single) + ".")
    return "**Stability**: " + " ".join(parts) if parts else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _v(mapping: dict[str, Any], key: str) -> str:
    value = mapping.get(key)
    return "unknown" if value is None or value == "" else str(value)


def _pairs(mapping: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in _dict(mapping).items()) or "unknown"


def _machine(run: Run) -> str:
    meta = _dict(run.metadata)
    cpu, host, git = _dict(meta.get("cpu")), _dict(meta.get("host")), _dict(meta.get("git"))
    tools, pinning = _dict(meta.get("tools")), _dict(meta.get("pinning"))
    dirty = " (dirty working tree)" if git.get("dirty") else ""
    lines = [
        f"- CPU: {_v(cpu, 'model')}, {_v(cpu, 'logical')} logical / "
        f"{_v(cpu, 'physical')} physical, governor {_v(cpu, 'governor')}, "
        f"turbo {_v(cpu, 'turbo')}",
        f"- Host: {_v(host, 'hostname')}, {_v(host, 'os')}, "
        f"kernel {_v(host, 'kernel')}, Python {_v(host, 'python')}",
        f"- Database: {_v(tools, 'db_provider')}, Postgres {_v(tools, 'postgres')}",
        "- Tools: "
        + (", ".join(str(v) for k, v in tools.items() if k not in _DB_KEYS and v) or "unknown"),
        "- Crates: " + _pairs(meta.get("crates")),
        f"- Git: {_v(git, 'commit')}{dirty}",
        f"- Run: started {_v(meta, 'started_at')}, finished {run.finished_at or 'not finished'}",
        f"- Pinning ({_v(pinning, 'source')}): " + _plan(pinning.get("plan")),
    ]
    if pinning.get("note"):
        lines.append(f"  {pinning['note']}")
    raw_notes = meta.get("notes") or []
    notes = [f"- {n}" for n in ([raw_notes] if isinstance(raw_notes, str) else raw_notes)]
    parts = ["## Machine and pinning", "\n".join(lines), _cpus_table(run.cells)]
    return "\n\n".join(parts + (["Notes:\n\n" + "\n".join(notes)] if notes else []))


def _plan(plan: Any) -> str:
    items = _dict(plan).items()
    return ", ".join(f"{role} → CPUs {_cpu_list(c)}" for role, c in items) or "none"


def _cpu_list(cpus: Any) -> str:
    return ",".join(map(str, cpus)) if isinstance(cpus, list | tuple) else str(cpus)


def _cpus_table(cells: list[Cell]) -> str:
    roles = [r for r in ROLES if any(r in c.cpus for c in cells)]
    roles += sorted({r for c in cells for r in c.cpus} - set(roles))
    rows = [[c.variant, c.label, *(c.cpus.get(r, "-") for r in roles)] for c in cells]
    intro = "CPUs allowed, read back from /proc for each cell:\n\n"
    return intro + _table(["variant", "shape", *roles], rows)


def _variants(run: Run) -> str:
    described = _dict(_dict(run.metadata).get("variants"))
    names = list(dict.fromkeys(c.variant for c in run.cells))
    sections = ["## Variants"]
    for name in names:
        info = _dict(described.get(name))
        sections.append(f"### {name}\n\n{info.get('summary', '(no summary recorded)')}")
        sections += [_cell_detail(c) for c in run.cells if c.variant == name]
        sections.append(_packages(_dict(info.get("packages"))))
    return "\n\n".join(s for s in sections if s)


def _cell_detail(cell: Cell) -> str:
    parts = [f"#### {cell.variant}, {cell.label}"]
    if cell.error:
        parts.append(f"**Failed**: {cell.error}")
    if cell.repeats:
        parts += [_repeats_table(cell), _rps_line(cell), _usage_table(cell)]
    parts.append(f"oha command:\n\n```\n{shlex.join(cell.oha_command)}\n```")
    return "\n\n".join(parts)


def _repeats_table(cell: Cell) -> str:
    header = ["repeat", "rps", "p50 (ms)", "p99 (ms)", "p99.9 (ms)"]
    header += ["ok", "non-2xx", "errors", "failure"]
    return _table(header, map(_repeat_row, cell.repeats))


def _repeat_row(r: Repeat) -> list[str]:
    latencies = [_opt(r.load.latency_ms.get(k), _fmt_ms) for k in ("p50", "p99", "p99.9")]
    counts = [str(r.load.ok), str(r.load.non_2xx), str(r.load.errors)]
    return [str(r.index), _fmt_rps(r.load.rps), *latencies, *counts, r.failure or ""]


def _opt(value: float | None, fmt: Callable[[float], str]) -> str:
    return "n/a" if value is None else fmt(value)


def _rps_line(cell: Cell) -> str:
    s = stats.summarize([r.load.rps for r in cell.repeats])
    if s.ci_low is None or s.ci_high is None or s.cv is None:
        return f"Throughput: {_fmt_rps(s.median)} rps from a single repeat (no interval, no CV)."
    return (
        f"Throughput over {s.n} repeats: median {_fmt_rps(s.median)} rps, "
        f"95% CI of the mean [{_fmt_rps(s.ci_low)}, {_fmt_rps(s.ci_high)}], CV {s.cv:.1%}."
    )


def _usage_table(cell: Cell) -> str:
    roles = [r for r in ROLES if any(r in rep.usage for rep in cell.repeats)]
    attrs = ("peak_rss_mib", "peak_uss_mib", "peak_pss_mib", "cpu_mean_pct", "cpu_peak_pct")
    rows = []
    for role in roles:
        usages = [rep.usage[role] for rep in cell.repeats if role in rep.usage]
        values = [[v for u in usages if (v := getattr(u, a)) is not None] for a in attrs]
        rows.append([role, *(_fmt_1(stats.summarize(v).median) if v else "n/a" for v in values)])
    header = ["role", "peak RSS (MiB)", "peak USS (MiB)", "peak PSS (MiB)"]
    header += ["CPU mean (%)", "CPU peak (%)"]
    text = "Resource use, median over repeats (100% = one CPU):\n\n" + _table(header, rows)
    sampler = [r.sampler_cpu_pct for r in cell.repeats if r.sampler_cpu_pct is not None]
    if sampler:
        text += f"\n\nSampler's own cost: {_fmt_1(stats.summarize(sampler).median)}% of one CPU."
    return text


def _packages(packages: dict[str, Any]) -> str:
    if not packages:
        return ""
    rows = [[name, str(version)] for name, version in sorted(packages.items())]
    table = _table(["package", "version"], rows)
    return f"<details><summary>Package versions ({len(rows)})</summary>\n\n{table}\n\n</details>"


def _plots(plot_files: dict[str, str] | None) -> str:
    if not plot_files:
        return ""
    images = [f"![{name}]({file})" for name, file in plot_files.items()]
    return "## Plots\n\n" + "\n\n".join(images)
