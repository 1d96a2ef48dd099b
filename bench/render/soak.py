"""The report of a soak run: what loaded the server, its memory over time, the growth."""

from bench.model.results import Soak
from bench.plan.describe import duration
from bench.render.markdown import fmt_1, fmt_rps, table
from bench.render.page import Page

POINTS = 10  # rows of the RSS-over-time table


def title(page: Page) -> str:
    """The report's heading for a soak run."""
    assert page.run.soak is not None
    return f"{page.heading('Soak run', page.run.soak.variant)}."


def section(page: Page) -> str:
    """What the soak did, the growth after warm-up, and RSS at evenly spaced times."""
    soak = page.run.soak
    if soak is None:
        return ""
    bursts = soak.bursts
    ok = sum(b.ok for b in bursts)
    bad = sum(b.non_2xx + b.errors for b in bursts)
    rps = sorted(b.rps for b in bursts)
    parts = [
        "## Soak: server memory over time",
        f"One {soak.variant} server ({soak.params.label()}) for {duration(soak.duration_s)}: "
        f"{len(bursts)} bursts of oha ({soak.burst_s:g} s each, then {soak.pause_s:g} s idle), "
        f"{ok} good responses and {bad} bad"
        + (f", median burst {fmt_rps(rps[len(rps) // 2])} rps" if rps else "")
        + f". The RSS of the server's whole process tree was sampled {len(soak.rss_mib)} times; "
        f"growth is counted after a warm-up of {soak.warmup_s:g} s.",
    ]
    if soak.error:
        parts.append(f"**The soak stopped early**: {soak.error}")
    parts.append(_growth(soak))
    if soak.rss_mib:
        parts.append(_series(soak))
    return "\n\n".join(parts)


def _growth(soak: Soak) -> str:
    found = soak.growth
    if found is None:
        return "Too few samples after warm-up to tell a growth."
    rows = [
        ["RSS at the end of warm-up (MiB)", fmt_1(found.warm_rss_mib)],
        ["RSS at the end (MiB)", fmt_1(found.end_rss_mib)],
        ["peak RSS (MiB)", fmt_1(max(soak.rss_mib))],
        ["growth after warm-up", f"{found.growth_mib:+.2f} MiB ({found.growth_pct:+.1f}%)"],
        [
            "slope after warm-up (MiB/min)",
            f"{found.slope_mib_per_min:+.3f} ± {found.slope_stderr:.3f}",
        ],
    ]
    note = (
        "Each end point is the median of the samples over one burst and pause; the slope is "
        f"a least-squares line through the {found.samples} samples after warm-up (± its "
        "standard error)."
    )
    return table(["", soak.variant], rows) + "\n\n" + note


def _series(soak: Soak) -> str:
    count = len(soak.time_s)
    picks = sorted({round(i * (count - 1) / (POINTS - 1)) for i in range(POINTS)})
    rows = [[f"{soak.time_s[i]:.0f}", fmt_1(soak.rss_mib[i])] for i in picks]
    return table(["time (s)", "server RSS (MiB)"], rows)
