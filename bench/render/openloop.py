"""The report's "Open loop" section: latency at fixed offered rates, saturated rates marked."""

from bench.analysis import ceilings, latency, openloop
from bench.render import details
from bench.render.markdown import escape, fmt_ms, fmt_rps, fold_long, table
from bench.render.page import Page

LATENCIES = ("p50", "p99", "p99.9", "max")


def section(page: Page) -> str:
    """One row per open-loop cell, or "" when the run has none."""
    run = page.run
    cells = [c for c in run.cells if c.params.mode == "open"]
    if not cells:
        return ""
    rows = []
    for cell in cells:
        got, plan = ceilings.rps(cell), cell.open_loop
        if plan is None or got is None:
            offered = [fmt_rps(plan.offered_rps), "-", str(plan.connections)] if plan else ["-"] * 3
            why = escape(details.reason(cell))
            rows.append([cell.variant, cell.label, *offered, "-", "-", "-", "-", f"failed: {why}"])
            continue
        full = openloop.saturated(plan.offered_rps, got)
        shown = [latency.latency_ms(cell, key) for key in LATENCIES]
        lat = ["-" if full or v is None else fmt_ms(v) for v in shown]
        status = f"**saturated** ({got / plan.offered_rps:.0%} of offered)" if full else "sustained"
        rates = [fmt_rps(plan.offered_rps), fmt_rps(got), str(plan.connections)]
        rows.append([cell.variant, cell.label, *rates, *lat, status])
    header = ["variant", "cell", "offered (rps)", "achieved (rps)", "connections"]
    header += [f"{key} (ms)" for key in LATENCIES] + ["rate"]
    intro = (
        "## Open loop\n\nEach open-loop cell offers a fixed rate, a fraction of its closed-loop "
        "cell's median throughput (`oha -q RATE --latency-correction`: latency counts from "
        "when each request was due, so queueing is not hidden). Connections are sized by "
        "Little's law (rate x the closed-loop p99, doubled, never fewer than the closed "
        f"loop's). A rate achieved below {openloop.SUSTAINED:.0%} of what was offered is "
        "saturated: its latencies measure a queue, so they are not shown. The tables above "
        "are closed-loop latencies."
    )
    return f"{intro}\n\n{fold_long('Open-loop cells', table(header, rows), len(rows))}"
