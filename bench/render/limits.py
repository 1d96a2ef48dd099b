"""The report's "Ceilings and limits" section: the run's ceilings, the load generator's
headroom, and for each cell its share of the database ceiling and the CPU that bound it."""

from bench.analysis import ceilings
from bench.model.results import Run
from bench.render.markdown import TIMES, fmt_rps, fold_long, table
from bench.render.page import Page


def section(page: Page) -> str:
    """The section, or "" for a run without probes (schema v1 files, say)."""
    run = page.run
    if not run.probes:
        return ""
    lines = [_database(run), _http(run), _headroom(run)]
    parts = [
        "## Ceilings and limits",
        "Measured in this run, under the same pinning, before the cells:",
    ]
    parts.append("\n".join(f"- {line}" for line in lines if line))
    parts.append(_cells(run))
    return "\n\n".join(p for p in parts if p)


def _not_measured(run: Run, name: str, title: str) -> str:
    failed = next((p.error for p in run.probes if p.name == name and p.error), "no probe")
    return f"**{title}**: not measured ({failed})."


def _database(run: Run) -> str:
    if (db := ceilings.probe(run, "database")) is None:
        return _not_measured(run, "database", "Database ceiling")
    v = db.values
    return (
        f"**Database ceiling**: pgbench running the benchmark query as the servers do (prepared, "
        f"`LIMIT :limit` bound to {v.get('limit', 100):.0f}) from {v.get('clients', 5):.0f} "
        f"connections pinned to CPU {db.cpus.get('pgbench', 'any')} (where the servers run): "
        f"**{fmt_rps(v['tps'])} queries/s**, mean latency {v.get('latency_mean_ms', 0):.3f} ms."
    )


def _http(run: Run) -> str:
    if (http := ceilings.probe(run, "http")) is None:
        return _not_measured(run, "http", "HTTP ceiling")
    v = http.values
    keepalive = "on" if v.get("keepalive") else "off"
    threads = int(v.get("oha_threads", 0))
    return (
        f"**HTTP ceiling**: oha with the cells' command (`-c {v.get('concurrency', 0):.0f}`, "
        f"keepalive {keepalive}) against Axum's in-memory `GET /users/static` (the same "
        f"100-row body, no database): **{fmt_rps(v['rps'])} rps**, with the load generator's "
        f"CPU {http.cpus.get('loadgen', 'any')} at {v.get('loadgen_cpu_pct', 0):.0f}% and the "
        f"server's at {v.get('server_cpu_pct', 0):.0f}%. oha ran {threads} threads: it sizes "
        "them from the physical core count and ignores CPU affinity."
    )


def _headroom(run: Run) -> str:
    room = ceilings.headroom(run)
    if room is None:
        return ""
    text = (
        f"**Load-generator headroom**: the HTTP ceiling is {room.ratio:.1f}{TIMES} the "
        f"fastest database-backed cell, {room.fastest} at {fmt_rps(room.fastest_rps)} rps"
    )
    least = f"{ceilings.MIN_HEADROOM:g}{TIMES}"
    if room.enough:
        return f"{text} (at least {least}: the load generator was not the limit)."
    return (
        f"{text}. **Warning**: below {least}, the load generator, "
        "not the server, may be what limited the fastest cells; give oha more CPUs (`--pin`)."
    )


def _cells(run: Run) -> str:
    plan = run.metadata.pinning.plan if run.metadata.pinning else {}
    count = run.metadata.cpu.logical or 1
    rows, sets = [], list[ceilings.Resource]()
    bound = {c.id: ceilings.binding(c, plan, count) for c in run.cells}
    for b in bound.values():
        sets += [s for s in (b.use if b else {}) if s not in sets]
    for cell in run.cells:
        share, b, value = ceilings.share_of_database(cell, run), bound[cell.id], ceilings.rps(cell)
        use = [f"{b.use[s]:.0%}" if b and s in b.use else "-" for s in sets]
        rows.append(
            [
                cell.variant,
                cell.label,
                fmt_rps(value) if value is not None else "failed",
                f"{share:.0%}" if share is not None else "-",
                b.resource.text() if b else "-",
                *use,
            ]
        )
    if not rows:
        return ""
    header = ["variant", "cell", "rps", "of the database ceiling", "bound by"]
    header += [s.text() for s in sets]
    note = (
        f"A CPU set bound a cell when its roles used {ceilings.SATURATED:.0%} or more of it "
        "(median over the repeats of the sampled CPU use; roles pinned to the same CPUs are "
        'added up); "none" means no CPU was saturated: the cell waited on round trips.'
    )
    return f"{fold_long('Limits per cell', table(header, rows), len(rows))}\n\n{note}"
