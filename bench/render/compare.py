"""Markdown for a pull request: run B against run A, cell by cell (from a Comparison)."""

from collections.abc import Callable

from bench.analysis.compare import Change, Comparison, RunInfo
from bench.analysis.verdict import THROUGHPUT, Direction
from bench.render import details, verdict
from bench.render.markdown import fmt_3, fmt_ms, fmt_rps, fold_long, table

SEEN = "smallest detectable change (80% power)"
HEADER = ["variant", "cell", "throughput A (rps)", "B (rps)", "change", "verdict", SEEN]
HEADER += ["p99 A (ms)", "B (ms)", "change", "verdict", SEEN]
METHOD = (
    "Medians over each cell's repeats; change is B against A. Verdict: Welch's t-test over the "
    "repeats, significant when p < 0.05 (two-sided), and the smallest change of the mean "
    "that the same test detects in 80% of runs with these repeats' spread (as a share of A's "
    'mean): "not significant" means nothing larger. Each repeat\'s p99 is its own (its '
    "histogram, else oha's), so it can differ slightly from the report's pooled p99. An "
    "open-loop cell's throughput is the rate it was offered (a fraction of its own run's "
    "closed-loop median, nearly without spread), so it is not tested unless a run could not "
    "sustain it; its p99 is."
)


def render(comparison: Comparison) -> str:
    """The whole comparison as Markdown."""
    parts = [_title(comparison), METHOD, _warnings(comparison), _drift(comparison)]
    parts.append(_summary(comparison))
    parts += [_table(comparison), _cost(comparison), _unmatched(comparison)]
    return "\n\n".join(p for p in parts if p) + "\n"


def _name(run: RunInfo) -> str:
    return f"`{run.run_id}` (profile `{run.profile}`, {run.started_at or 'unknown date'})"


def _title(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    return f"# Run {b.run_id} against {a.run_id}\n\n- A: {_name(a)}\n- B: {_name(b)}"


def _warnings(comparison: Comparison) -> str:
    if not comparison.warnings:
        return ""
    return "**Warnings**\n\n" + "\n".join(f"- {w}" for w in comparison.warnings)


def _drift(comparison: Comparison) -> str:
    """How far the machine moved between the runs, and the run that would settle a change."""
    moved = comparison.drift
    settle = (
        f"`nox -s bench -- --baseline {comparison.commit_a[:12]}` (run A's commit) measures "
        "both sides in one run, round by round, and settles it"
        if comparison.commit_a
        else "`nox -s bench -- --baseline REV` measures both sides in one run and settles it"
    )
    if moved is None:
        return (
            "**The machine's move between the runs is unknown** (the runs share no canary or "
            f"ceiling): a change may be the machine's. {settle}."
        )
    parts = ", ".join(f"{y.name} {y.change:+.1%}" for y in moved.yardsticks)
    reach = (
        f"; from their spread, a workload measured alike could have moved by up to "
        f"{moved.bound_pct:.1f}% (95% prediction)"
        if moved.bound_pct > moved.pct + 0.05
        else ""
    )
    return (
        f"**The machine moved by up to {moved.pct:.1f}% between the runs** ({parts}; speed of B "
        f'against A{reach}). A significant change no larger than that reads "cannot tell": it '
        f"may be the machine's. {settle}."
    )


def _count(changes: list[Change | None], words: tuple[Direction, Direction], what: str) -> str:
    found = [c.verdict.direction for c in changes if c is not None and c.verdict.direction]
    if not found:
        return f"no significant change in {what}"
    return f"{what} " + ", ".join(f"{found.count(w)} {w.value}" for w in words if w in found)


def _summary(comparison: Comparison) -> str:
    cells = comparison.cells
    if not cells:
        return "No cell was measured in both runs."
    throughput = _count([c.throughput for c in cells], THROUGHPUT, "throughput")
    p99 = _count([c.p99 for c in cells], (Direction.LOWER, Direction.HIGHER), "p99")
    return f"{len(cells)} cells compared: {throughput}; {p99}."


def _columns(change: Change | None, fmt: Callable[[float], str]) -> list[str]:
    """A measure's five columns: A, B, change, verdict and the smallest change it could see
    ("-" where the cell has no value)."""
    if change is None:
        return ["-"] * 5
    pct = f"{change.change_pct:+.1f}%" if change.change_pct is not None else "n/a"
    seen = f"\N{PLUS-MINUS SIGN}{change.detectable_pct:.0f}%" if change.detectable_pct else "n/a"
    return [fmt(change.median_a), fmt(change.median_b), pct, verdict.text(change.verdict), seen]


def _table(comparison: Comparison) -> str:
    rows = [
        [c.variant, c.label, *_columns(c.throughput, fmt_rps), *_columns(c.p99, fmt_ms)]
        for c in comparison.cells
    ]
    if not rows:
        return ""
    return fold_long("Every cell compared", table(HEADER, rows), len(rows))


def _cost(comparison: Comparison) -> str:
    """The server's CPU per request in both runs, where both accounted it."""
    rows = [
        [c.variant, c.label, fmt_3(a), fmt_3(b), f"{(b - a) / a:+.1%}"]
        for c in comparison.cells
        if (a := c.cpu_ms[0]) and (b := c.cpu_ms[1])
    ]
    if not rows:
        return ""
    header = ["variant", "cell", "server CPU per request A (ms)", "B (ms)", "change"]
    intro = "**What a request cost the server**: CPU seconds over answered requests, medians."
    return f"{intro}\n\n" + fold_long("Every cell's cost", table(header, rows), len(rows))


def _unmatched(comparison: Comparison) -> str:
    if not comparison.unmatched:
        return ""
    lines = []
    for u in comparison.unmatched:
        failed = [
            f"{run} {details.reason(c)}"
            for run, c in (("A:", u.a), ("B:", u.b))
            if c is not None and not c.ok
        ]
        lines.append(f"- `{u.variant}` ({u.label}): {u.why}" + "".join(f"; {f}" for f in failed))
    return "## Not compared\n\n" + "\n".join(lines)
