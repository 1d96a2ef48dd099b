"""The plan as text, for --dry-run and the line printed before a run starts."""

from bench.model.plan import Plan
from bench.plan.matrix import Variant
from bench.plan.profiles import estimate, total_estimate


def duration(seconds: float) -> str:
    """A duration for people: "42s", "3m05s", "1h02m"."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def describe(plan: Plan, variants: dict[str, Variant]) -> str:
    """Sweeps, every selected cell with its id, label and estimate, skips with reasons."""
    m = plan.measure
    amount = f"{m.duration_s:g}s" if m.duration_s else f"{m.requests} requests"
    lines = [f"profile {plan.profile}: {m.warmup_s:g}s warmup, then {m.repeats} x {amount}"]
    if plan.seed is not None:
        lines.append(f"each round in its own order, shuffled from seed {plan.seed}")
    if side := plan.baseline:
        lines.append(
            f"A/B: every cell also at baseline {side.rev} ({side.commit[:12]}), NAME@baseline"
        )
    selected = plan.selected()
    if shard := plan.shard:
        lines.append(f"shard {shard.index}/{shard.count}: {len(selected)} of {len(plan.cells)}")
    for i, sweep in enumerate(plan.sweeps, 1):
        lines.append(f"sweep {i}, {sweep.name}: {len(sweep.cells)} cells")
    width = max(len(c.variant) for c in selected)
    for n, cell in enumerate(selected, 1):
        sweeps = ",".join(str(i) for i, s in enumerate(plan.sweeps, 1) if cell.id in s.cells)
        seconds = duration(estimate(cell, variants, m))
        lines.append(
            f"{n:4d}  {cell.id}  {cell.variant:{width}}  {cell.label}  (sweep {sweeps}, ~{seconds})"
        )
    for skip in plan.skips:
        lines.append(f"skip  {skip.variant}  {skip.text()}: {skip.reason}")
    total = duration(total_estimate(selected, variants, m))
    lines.append(f"{len(selected)} cells, {len(plan.skips)} skipped; estimated {total}")
    return "\n".join(lines)
