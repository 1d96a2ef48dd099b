"""Merge runs (shards of one plan, e.g. CI jobs) into one run, refusing what does not belong.

Shards must come from the same plan, machine kind (CPU model and count), commit, locks (the
packages of every variant's environment, a Rust variant's crates) and CPU plan. Each merged
cell records its shard's run: the report gives no verdict between cells of different runs.
"""

from typing import Any

from bench.errors import UsageError
from bench.model.results import Run


def _key(run: Run) -> dict[str, Any]:
    meta = run.metadata
    pinning = meta.pinning.plan if meta.pinning else None
    return {
        "plan": run.plan.plan_id,
        "CPU model": meta.cpu.model,
        "CPU count": meta.cpu.logical,
        "commit": meta.git.commit,
        "CPU plan": pinning,
    }


def _packages(run: Run) -> dict[str, tuple[str | None, dict[str, str]]]:
    return {name: (i.lock_sha256, i.packages) for name, i in run.metadata.variants.items()}


def check(first: Run, other: Run) -> None:
    """Raise a UsageError naming the first difference that forbids merging `other` into `first`."""
    a, b = _key(first), _key(other)
    for name in a:
        if a[name] != b[name]:
            raise UsageError(
                f"cannot merge {first.run_id} and {other.run_id}: {name} differs "
                f"({_short(a[name])} vs {_short(b[name])}); merge shards of one plan, run "
                "on one machine kind from one commit"
            )
    ours, theirs = _packages(first), _packages(other)
    for variant in ours.keys() & theirs.keys():
        if ours[variant] != theirs[variant]:
            raise UsageError(
                f"cannot merge {first.run_id} and {other.run_id}: the lock or the installed "
                f"packages of {variant} differ; build both from the same locks"
            )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def merge(runs: list[Run], run_id: str) -> Run:
    """One run holding every cell of `runs`, in plan order, each with the run that measured it
    (`measured_in`); unmeasured cells listed as missing."""
    first = runs[0]
    seen: dict[str, str] = {}
    for run in runs:
        check(first, run)
        for cell in run.cells:
            if cell.id in seen:
                raise UsageError(
                    f"cell {cell.variant} {cell.label} is in both {seen[cell.id]} and "
                    f"{run.run_id}; merge each shard once"
                )
            seen[cell.id] = run.run_id
    plan = first.plan.model_copy(update={"shard": None})
    order = {c.id: i for i, c in enumerate(plan.cells)}
    measured = (  # each cell remembers its shard's run (a merged run's cells keep theirs)
        c.model_copy(update={"measured_in": c.measured_in or r.run_id})
        for r in runs
        for c in r.cells
    )
    cells = sorted(measured, key=lambda c: order[c.id])
    metadata = first.metadata.model_copy(deep=True)
    metadata.merged_from = [r.run_id for r in runs]
    for run in runs[1:]:
        metadata.variants |= run.metadata.variants
    return Run(
        run_id=run_id,
        plan=plan,
        metadata=metadata,
        cells=cells,
        probes=[p for r in runs for p in r.probes],
        flamegraphs=[f for r in runs for f in r.flamegraphs],
        missing=[c.id for c in plan.cells if c.id not in seen],
        finished_at=max((r.finished_at or "") for r in runs) or None,
    )


def missing_shards(runs: list[Run]) -> list[str]:
    """The shards ("2/3") of the plan that none of `runs` is."""
    shards = [r.plan.shard for r in runs if r.plan.shard]
    if not shards:
        return []
    present = {s.index for s in shards}
    return [f"{i}/{shards[0].count}" for i in range(1, shards[0].count + 1) if i not in present]
