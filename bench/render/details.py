"""The report's reference sections: machine and pinning, and each variant's cells in detail."""

import shlex
from collections.abc import Callable

from bench.analysis import stats
from bench.model.plan import axis_value
from bench.model.results import Cell, Repeat
from bench.model.roles import ROLES
from bench.render.markdown import fmt_1, fmt_ms, fmt_rps, fold, fold_long, table
from bench.render.page import Page

_DB_KEYS = ("postgres",)


def _v(value: object) -> str:
    return "unknown" if value is None or value == "" else str(value)


def machine(page: Page) -> str:
    """CPU, host, tools, git, the CPU plan and the CPUs read back per cell."""
    run = page.run
    meta = run.metadata
    cpu, host, tools = meta.cpu, meta.host, meta.tools
    dirty = " (dirty working tree)" if meta.git.dirty else ""
    lines = [
        f"- CPU: {_v(cpu.model)}, {_v(cpu.logical)} logical / {_v(cpu.physical)} physical, "
        f"governor {_v(cpu.governor)}, turbo {_v(cpu.turbo)}",
        f"- Host: {_v(host.hostname)}, {_v(host.os)}, kernel {_v(host.kernel)}, "
        f"Python {_v(host.python)}",
        f"- Database: {_v(run.metadata.db_provider)}, Postgres {_v(tools.get('postgres'))}",
        "- Tools: "
        + (", ".join(str(v) for k, v in tools.items() if k not in _DB_KEYS and v) or "unknown"),
        f"- Git: {meta.git.commit or 'unknown'}{dirty}",
        f"- Run: started {meta.started_at or 'unknown'}, "
        f"finished {run.finished_at or 'not finished'}; plan `{run.plan.plan_id}`",
    ]
    if meta.merged_from:
        lines.append(f"- Merged from: {', '.join(meta.merged_from)}")
    if pinning := meta.pinning:
        plan = ", ".join(
            f"{r} → CPUs {','.join(map(str, c or []))}" for r, c in pinning.plan.items()
        )
        lines += [f"- Pinning ({pinning.source}): {plan or 'none'}", f"  {pinning.note}"]
    notes = [f"- {n}" for n in meta.notes]
    parts = ["## Machine and pinning", "\n".join(lines)]
    parts += [_cpus_table(run.cells)] if run.cells else []  # a soak or flamegraphs: no cells
    return "\n\n".join(parts + (["Notes:\n\n" + "\n".join(notes)] if notes else []))


def _cpus(cpus: list[int] | None) -> str:
    return ",".join(map(str, cpus)) if cpus else "any"


def _cpus_table(cells: list[Cell]) -> str:
    roles = [r for r in ROLES if any(r in c.cpus for c in cells)]
    rows = [[c.variant, c.label, *(c.cpus.get(r, "-") for r in roles)] for c in cells]
    body = "CPUs allowed, read back from /proc for each cell:\n\n"
    return fold(f"CPUs per cell ({len(cells)})", body + table(["variant", "cell", *roles], rows))


def variants(page: Page) -> str:
    """Each variant: what it is, every cell in detail (folded), its package versions."""
    run = page.run
    sections = ["## Variants"]
    for name in dict.fromkeys(c.variant for c in run.plan.cells):
        info = run.metadata.variants.get(name)
        sections.append(f"### {name}\n\n{info.summary if info else '(no summary recorded)'}")
        cells = [c for c in run.cells if c.variant == name]
        if cells:
            body = "\n\n".join(_cell(c) for c in cells)
            sections.append(fold(f"Cells in detail ({len(cells)})", body))
        if info and info.lock:
            sections.append(f"Built from `{info.lock}` (sha256 `{info.lock_sha256}`).")
        if info and info.packages:
            rows = [[n, v] for n, v in sorted(info.packages.items())]
            sections.append(
                fold(f"Package versions ({len(rows)})", table(["package", "version"], rows))
            )
    return "\n\n".join(sections)


def reason(cell: Cell) -> str:
    """Why a cell failed, in one line."""
    if cell.error:
        return cell.error
    if not cell.repeats:
        return "no repeats were measured"
    return "; ".join(f"repeat {r.index}: {r.failure}" for r in cell.repeats if r.failure)


def _cell(cell: Cell) -> str:
    parts = [f"#### {cell.variant}, {cell.label}", f"Cell id `{cell.id}`."]
    if not cell.ok:
        parts.append(f"**Failed**: {reason(cell)}")
    if server := cell.server:
        declared = ", ".join(f"{k} {v}" for k, v in server.declared.items())
        reported = ", ".join(f"{k} {v}" for k, v in server.reported.items())
        parts.append(
            f"Server: `{shlex.join(server.command)}`; declared: {declared or 'nothing'}; "
            f"its /health says: {reported or 'nothing'}; at most "
            f"{server.database_connections} database connections."
        )
    if cell.repeats:
        parts += [_repeats_table(cell), _rps_line(cell), _usage_table(cell)]
    if cell.artifacts:
        parts.append("Files: " + ", ".join(f"[{k}]({v})" for k, v in cell.artifacts.items()))
    if cell.oha_command:
        parts.append(f"oha command:\n\n```\n{shlex.join(cell.oha_command)}\n```")
    return "\n\n".join(parts)


def _repeats_table(cell: Cell) -> str:
    header = ["repeat", "rps", "p50 (ms)", "p99 (ms)", "p99.9 (ms)"]
    header += ["ok", "non-2xx", "errors", "failure"]
    return table(header, map(_repeat_row, cell.repeats))


def _repeat_row(r: Repeat) -> list[str]:
    latencies = [_opt(r.load.latency_ms.get(k), fmt_ms) for k in ("p50", "p99", "p99.9")]
    counts = [str(r.load.ok), str(r.load.non_2xx), str(r.load.errors)]
    return [str(r.index), fmt_rps(r.load.rps), *latencies, *counts, r.failure or ""]


def _opt(value: float | None, fmt: Callable[[float], str]) -> str:
    return "n/a" if value is None else fmt(value)


def _rps_line(cell: Cell) -> str:
    s = stats.summarize([r.load.rps for r in cell.repeats])
    if s.ci_low is None or s.ci_high is None or s.cv is None:
        return f"Throughput: {fmt_rps(s.median)} rps from a single repeat (no interval, no CV)."
    return (
        f"Throughput over {s.n} repeats: median {fmt_rps(s.median)} rps, "
        f"95% CI of the mean [{fmt_rps(s.ci_low)}, {fmt_rps(s.ci_high)}], CV {s.cv:.1%}."
    )


def _usage_table(cell: Cell) -> str:
    roles = [r for r in ROLES if any(r in rep.usage for rep in cell.repeats)]
    attrs = ("peak_rss_mib", "peak_uss_mib", "peak_pss_mib", "cpu_mean_pct", "cpu_peak_pct")
    rows = []
    for role in roles:
        usages = [rep.usage[role] for rep in cell.repeats if role in rep.usage]
        values = [[v for u in usages if (v := getattr(u, a)) is not None] for a in attrs]
        rows.append([role, *(fmt_1(stats.summarize(v).median) if v else "n/a" for v in values)])
    header = ["role", "peak RSS (MiB)", "peak USS (MiB)", "peak PSS (MiB)"]
    header += ["CPU mean (%)", "CPU peak (%)"]
    text = "Resource use, median over repeats (100% = one CPU):\n\n" + table(header, rows)
    sampler = [r.sampler_cpu_pct for r in cell.repeats if r.sampler_cpu_pct is not None]
    if sampler:
        text += f"\n\nSampler's own cost: {fmt_1(stats.summarize(sampler).median)}% of one CPU."
    return text


READ_BACK = ("server", "loop", "http", "driver")


def what_ran(page: Page) -> str:
    """What each cell's server said it runs (/health) and the workers counted from /proc."""
    cells = page.run.cells
    rows = []
    for c in cells:
        if not c.server:
            continue
        said = c.server.reported
        pool = f"{said.get('pool', '?')}" + (f"+{said['overflow']}" if said.get("overflow") else "")
        workers = str(c.server.workers) if c.server.workers is not None else "-"
        read = [str(said.get(k, "-")) for k in READ_BACK]
        check = axis_value(said["host_check"]) if "host_check" in said else "-"
        connections = str(c.server.database_connections)
        rows.append([c.variant, c.label, *read, pool, workers, connections, check])
    if not rows:
        return ""
    header = ["variant", "cell", *READ_BACK, "pool", "workers", "DB connections (max)"]
    header += ["host check"]
    intro = (
        "## What ran\n\nRead back from each running server: its `/health` answer (server, "
        "event loop, HTTP parser, driver, pool, whether it checks the Host header) and its "
        "worker processes counted from /proc."
    )
    return f"{intro}\n\n{fold_long('Servers per cell', table(header, rows), len(rows))}"


def skips(page: Page) -> str:
    """The combinations of the sweeps that were not planned, with their reasons."""
    run = page.run
    if not run.plan.skips:
        return ""
    lines = [f"- {s.variant} at {s.text()}: {s.reason}" for s in run.plan.skips]
    return f"## Skipped\n\n{len(lines)} combinations were not planned:\n\n" + "\n".join(lines)
