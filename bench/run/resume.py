"""Resume a run that stopped early: measure only what it lacks, on the machine, locks and
commit it started with, so that it ends as the run would have without the interruption.

A cell whose repeats so far are good keeps them and continues from the next one; a cell
with a failed repeat, or none at all, is measured again from its first; a finished cell
is left alone. The plan, pinning and database provider are the run's own.
"""

from pathlib import Path

from bench.errors import UsageError
from bench.model.provider import Provider
from bench.model.results import Cell, Run
from bench.plan import pinning
from bench.plan.matrix import Variant
from bench.run import environment
from bench.run.probes import CEILINGS
from bench.sut import locks


def check(run: Run, run_dir: Path, known: dict[str, Variant]) -> None:
    """Refuse, in one line, a run that cannot be resumed here: a merged one, or one whose
    plan, machine, variant locks or commit differ from now."""
    if run.metadata.merged_from:
        raise UsageError(f"--resume {run_dir}: a merge of shards; resume each shard instead")
    if run.counts or "valgrind" in run.metadata.tools:
        raise UsageError(
            f"--resume {run_dir}: a counted run (its counts are kept); count again with --count"
        )
    found = differences(run, known)
    if found:
        raise UsageError(
            f"--resume {run_dir}: {'; '.join(found)}; resume where and as the run started, "
            "or start a new run"
        )


def differences(run: Run, known: dict[str, Variant]) -> list[str]:
    """What differs between the run as stored and this checkout and machine, one phrase each."""
    found = []
    planned = {c.id for c in run.plan.selected()}
    missing = [
        name for name in dict.fromkeys(c.variant for c in run.plan.cells) if name not in known
    ]
    if missing:
        found.append(f"the plan's {', '.join(missing)} not in the matrix (give the run's --matrix)")
    if any(c.id not in planned for c in run.cells):
        found.append("cells not in its plan")
    cpu, meta = environment.cpu(), run.metadata
    if meta.cpu.model != cpu.model:
        found.append(f"CPU model {meta.cpu.model!r} then, {cpu.model!r} now")
    if meta.cpu.logical != cpu.logical:
        found.append(f"CPU count {meta.cpu.logical!r} then, {cpu.logical!r} now")
    commit = environment.git()["commit"]
    if meta.git.commit != commit:
        found.append(
            f"commit {(meta.git.commit or 'none')[:12]} then, {(commit or 'none')[:12]} now"
        )
    for name, info in meta.variants.items():
        lock = locks.lock_file(known[name]) if name in known else None
        if lock is not None and info.lock_sha256 != (locks.digest(lock) if lock.exists() else None):
            found.append(f"the lock of {name} ({info.lock}) changed")
    return found


def check_oha(run: Run, run_dir: Path, version: str | None) -> None:
    """Refuse another oha than the run's (its numbers would not be comparable)."""
    then = run.metadata.tools.get("oha")
    if then != version:
        raise UsageError(f"--resume {run_dir}: {then} then, {version} now; use the run's oha")


def provider(run: Run) -> Provider | None:
    """The database provider the run used (None when it never got as far as one)."""
    return run.metadata.db_provider


def cpu_plan(run: Run) -> pinning.CpuPlan:
    """The run's own CPU plan (auto for a run that recorded none)."""
    stored = run.metadata.pinning
    if stored is None:
        return pinning.auto()
    return pinning.CpuPlan(dict(stored.plan), stored.source, stored.note)


def prepare(run: Run, started: str) -> int:
    """Set the run's cells to every planned cell, in plan order: finished ones kept, the rest
    ready to go on; note the resumption. Return the number of repeats left to measure."""
    repeats = run.plan.measure.repeats
    stored = {c.id: c for c in run.cells}
    cells = []
    for spec in run.plan.selected():
        cell = stored.get(spec.id)
        if cell is None or any(r.failure for r in cell.repeats):
            cell = Cell(variant=spec.variant, params=spec.params)
        cell.error = None
        cells.append(cell)
    run.cells = cells
    left = sum(repeats - len(c.repeats) for c in cells)
    unfinished = sum(len(c.repeats) < repeats for c in cells)
    run.metadata.notes.append(
        f"resumed at {started}: {left} repeats of {unfinished} cells were left to measure"
    )
    return left


def complete(run: Run) -> bool:
    """Whether nothing is left: every planned cell finished and measured, every ceiling."""
    if {c.id for c in run.cells} != {c.id for c in run.plan.selected()}:
        return False
    cells = all(c.ok and len(c.repeats) == run.plan.measure.repeats for c in run.cells)
    return cells and {p.name for p in run.probes if p.error is None} == set(CEILINGS)
