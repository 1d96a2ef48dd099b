"""The report's "The database across a network" section and its plot (network.svg): throughput
against the database round trip per variant with the pool's bound, the ratio between two
stacks at each round trip, latency percentiles, the measured round trip beside the configured
one, and the namespace cells at zero added delay beside the loopback ones."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.analysis import latency, network, stats
from bench.analysis.network import Point
from bench.analysis.stats import Summary
from bench.model.results import Run
from bench.render.markdown import TIMES, fmt_ms, fmt_rps, fold_long, table
from bench.render.page import Page
from bench.render.style import STYLE, caption, log_scale, palette

PLOT = "network.svg"
RATIO = ("axum", "fastapi-async")  # the ratio shown at each round trip
LATENCIES = ("p50", "p90", "p99", "p99.9")


def _name(point: Point) -> str:
    http = f", client rtt {point.http_configured_ms:g} ms" if point.http_configured_ms else ""
    return f"{point.cell.variant} (pool {point.connections}{http})"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def section(page: Page) -> str:
    """The section, or "" when the run has no namespace cell."""
    run = page.run
    found = network.points(run)
    if not found:
        return ""
    parts = [_intro(), f"![Throughput against the database round trip]({PLOT})"]
    parts += [_throughput(found), _ratios(found), _bound(found), _zero(found, run)]
    parts += [_round_trips(found), _latencies(found)]
    return "\n\n".join(p for p in parts if p)


def _intro() -> str:
    return (
        "## The database across a network\n\n"
        "oha, the server and the database each ran in a network namespace of their own, "
        "joined by veth pairs, with the round trip of each link added by netem (half on each "
        "end) and measured from inside the namespaces before each repeat's load (the median "
        "of 21 TCP handshakes). A connection carries one query at a time, so a pool of N "
        "carries at most N ÷ (round trip + service time) queries per second: the **bound**, "
        "from each cell's own numbers (its measured round trip; the service time is the "
        "database's CPU per request in the same variant's cell at zero added delay). The CPUs "
        "are still shared and the link is a kernel one: see docs/topology.md."
    )


def _throughput(found: list[Point]) -> str:
    rtts = sorted({p.configured_ms for p in found})
    rows = []
    for points in network.series(found).values():
        at = {p.configured_ms: p for p in points}
        row = [_name(points[0])]
        for rtt in rtts:
            p = at.get(rtt)
            share = f" ({p.share:.0%} of {fmt_rps(p.bound_rps)})" if p and p.bound_rps else ""
            row.append(f"{fmt_rps(p.rps.median)}{share}" if p else "-")
        rows.append(row)
    header = ["rps (median; share of the bound)", *[f"db rtt {r:g} ms" for r in rtts]]
    return "**Throughput against the database round trip**\n\n" + table(header, rows)


def _ratios(found: list[Point]) -> str:
    top, bottom = RATIO
    rtts = sorted({p.configured_ms for p in found})
    values = [network.ratio_at(found, top, bottom, r) for r in rtts]
    if all(v is None for v in values):
        return ""
    cells = ["-" if v is None else f"{TIMES}{v:.2f}" for v in values]
    header = ["", *[f"db rtt {r:g} ms" for r in rtts]]
    return table(header, [[f"{top} ÷ {bottom} (throughput)", *cells]])


def _bound(found: list[Point]) -> str:
    lines = []
    for rtt in sorted({p.configured_ms for p in found if p.configured_ms > 0}):
        at = [p for p in found if p.configured_ms == rtt and p.bound_rps]
        over = [_name(p) for p in at if p.share is not None and p.share > 1]
        held = [_name(p) for p in at if p.held]
        lines.append(
            f"- db rtt {rtt:g} ms: {len(at) - len(over)} of {len(at)} cells at or below their "
            f"bound{'; above it: ' + ', '.join(over) if over else ''}; held by their pool "
            f"(≥ {network.HELD:.0%} of it): {', '.join(held) or 'none'}"
        )
    return "\n".join(lines)


def _zero(found: list[Point], run: Run) -> str:
    rows = []
    for point in (p for p in found if p.configured_ms == 0 and p.http_configured_ms == 0):
        twin = network.loopback_twin(point, run)
        if twin is None or not twin.ok:
            continue
        loop = stats.summarize([r.load.rps for r in twin.repeats])
        inside = [
            s.ci_low <= other.median <= s.ci_high
            for s, other in ((point.rps, loop), (loop, point.rps))
            if s.ci_low is not None and s.ci_high is not None
        ]
        verdict = "-" if not inside else ("yes" if any(inside) else "**no**")
        ratio = f"{TIMES}{point.rps.median / loop.median:.3f}" if loop.median else "-"
        rows.append([_name(point), _ci(point.rps), _ci(loop), ratio, verdict])
    if not rows:
        return ""
    header = ["at zero added delay", "namespaces (rps)", "loopback (rps)", "ratio", "within"]
    note = "*within*: either median lies inside the other's 95% interval."
    return f"{table(header, rows)}\n\n{note}"


def _ci(summary: Summary) -> str:
    if summary.ci_low is None or summary.ci_high is None:
        return fmt_rps(summary.median)
    return f"{fmt_rps(summary.median)} [{fmt_rps(summary.ci_low)}, {fmt_rps(summary.ci_high)}]"


def _round_trips(found: list[Point]) -> str:
    rows = [
        [
            _name(p),
            f"{p.configured_ms:g}",
            _ms(p.measured_ms),
            f"{p.http_configured_ms:g}",
            _ms(p.http_measured_ms),
            _ms(p.service_ms),
        ]
        for p in found
    ]
    header = ["cell", "db rtt set (ms)", "measured", "client rtt set", "measured", "service (ms)"]
    return fold_long("Round trips, configured and measured", table(header, rows), len(rows), 0)


def _latencies(found: list[Point]) -> str:
    rows = []
    for p in found:
        shown = [latency.latency_ms(p.cell, key) for key in LATENCIES]
        rows.append(
            [_name(p), f"{p.configured_ms:g}", *["-" if v is None else fmt_ms(v) for v in shown]]
        )
    header = ["cell", "db rtt (ms)", *[f"{k} (ms)" for k in LATENCIES]]
    return fold_long("Latency at each round trip", table(header, rows), len(rows), 0)


def draw(run: Run, out_dir: Path) -> Path | None:
    """network.svg: median throughput (95% interval) against the database round trip, a line
    per variant and pool, its bound dashed in the same colour; None without namespace cells."""
    found = network.points(run)
    if not found:
        return None
    colours = palette(run)
    with matplotlib.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 4.5))
        for (variant, pool, _), points in network.series(found).items():
            colour = colours[variant]
            style = "-" if pool <= 5 else ":"
            xs = [p.configured_ms for p in points]
            ys = [p.rps.median for p in points]
            low = [p.rps.median - (p.rps.ci_low or p.rps.median) for p in points]
            high = [(p.rps.ci_high or p.rps.median) - p.rps.median for p in points]
            ax.errorbar(xs, ys, yerr=[low, high], fmt="o" + style, color=colour, capsize=3,
                        label=_name(points[0]))  # fmt: skip
            bounds = [(p.configured_ms, p.bound_rps) for p in points if p.bound_rps]
            if bounds:
                ax.plot(*zip(*bounds, strict=True), "--", color=colour, alpha=0.6, linewidth=1)
        log_scale(ax, "y")
        ax.set_xlabel("database round trip added (ms); dashed: the pool's bound")
        ax.set_ylabel("requests per second (median, 95% CI)")
        ax.grid(True, which="both")
        ax.legend(fontsize=7, ncols=2)
        fig.suptitle("Throughput against the database round trip", fontsize=11)
        fig.text(0.01, 0.005, caption(run), fontsize=7, ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        path = out_dir / PLOT
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)
    return path
