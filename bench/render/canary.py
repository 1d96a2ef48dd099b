"""The report's "Machine canary" section: how far each CPU's speed moved over the run, and
the repeats measured while it had strayed."""

from bench.analysis import canary
from bench.render.markdown import fmt_ms, fold_long, table
from bench.render.page import Page


def section(page: Page) -> str:
    """The section, or "" for a run whose repeats carry no canary (older results files)."""
    run = page.run
    speeds = canary.speeds(run)
    if not speeds:
        return ""
    plan = run.metadata.pinning.plan if run.metadata.pinning else {}
    roles: dict[str, list[str]] = {}
    for role, cpus in plan.items():
        for cpu in cpus or []:
            roles.setdefault(str(cpu), []).append(role)
    rows = [
        [s.cpu, ", ".join(roles.get(s.cpu, [])), str(s.readings), fmt_ms(s.median_ms),
         fmt_ms(s.fastest_ms), fmt_ms(s.slowest_ms), f"{s.moved:.0%}", f"{s.steal_s:.2f}"]
        for s in speeds
    ]  # fmt: skip
    header = [
        "CPU",
        "pinned",
        "readings",
        "median (ms)",
        "fastest",
        "slowest",
        "moved",
        "steal (s)",
    ]
    parts = [
        "## Machine canary",
        "A fixed piece of CPU work (100 rows to JSON and back, 100 times; best of 3) timed on "
        "each pinned CPU before and after every repeat, with no server running, and each CPU's "
        "steal time: how far the machine itself moved while the cells were measured.",
        table(header, rows),
    ]
    flagged = canary.flags(run)
    if flagged:
        lines = [
            f"- {f.cell.variant} {f.cell.label}, repeat {f.repeat.index + 1}: CPU {f.cpu} at "
            f"{fmt_ms(f.ms)} ms, {abs(f.off):.0%} {'slower' if f.off > 0 else 'faster'} than "
            "its median"
            for f in flagged
        ]
        parts.append(
            f"**{len(flagged)} repeats** were measured while a CPU's canary was more than "
            f"{canary.DRIFT:.0%} away from its median: their numbers carry the machine's move."
        )
        parts.append(fold_long("the repeats", "\n".join(lines), len(lines), over=6))
    else:
        parts.append(f"No repeat's canary strayed more than {canary.DRIFT:.0%} from its median.")
    return "\n\n".join(parts)
