"""`python -m bench run --soak DURATION --variants NAME`: its checks and wiring.

A soak is one cell (the profile's closed-loop shape for one variant) served by one server
process for the whole DURATION, loaded in bursts; see `bench.run.soak`.
"""

import argparse
from pathlib import Path

from bench.cli import exports
from bench.errors import UsageError
from bench.load import registry
from bench.model import store
from bench.model.plan import CellSpec, Measure, Plan
from bench.plan import matrix, pinning, profiles
from bench.plan.describe import duration
from bench.run import runner, setup, soak

MIN_SOAK_S = 10.0
NOT_WITH_SOAK = {  # run options that mean nothing for a soak
    "shard": "--shard",
    "list_shards": "--list-shards",
    "dry_run": "--dry-run",
    "duration": "--duration",
    "requests": "--requests",
    "repeats": "--repeats",
    "open_loop": "--open-loop",
    "fail_fast": "--fail-fast",
    "seed": "--seed",
}


def check(args: argparse.Namespace, plan: Plan) -> tuple[Plan, soak.Schedule]:
    """The soak's one-cell plan and its pace; a UsageError for anything else asked."""
    seconds = profiles.seconds(args.soak, "--soak")
    if seconds < MIN_SOAK_S:
        raise UsageError(f"--soak {args.soak} is too short; give at least {MIN_SOAK_S:g}s")
    if given := [
        flag for key, flag in NOT_WITH_SOAK.items() if getattr(args, key) not in (None, False)
    ]:
        raise UsageError(f"--soak takes no {given[0]}: a soak is one cell, paced by its duration")
    names = list(dict.fromkeys(c.variant for c in plan.cells))
    if len(names) != 1:
        raise UsageError(
            f"--soak runs one variant, not {len(names)}; name one, e.g. --variants {names[0]}"
        )
    cells = [c for c in plan.cells if c.params.mode == "closed"]
    if len(cells) != 1:
        raise UsageError(f"--soak runs one cell, not {len(cells)}; give one value per axis")
    warmup = profiles.seconds(args.warmup, "--warmup") if args.warmup else None
    pace = soak.schedule(seconds, warmup)
    if pace.warmup_s >= seconds:
        raise UsageError(f"--warmup {args.warmup} leaves nothing of --soak {args.soak}")
    measure = Measure(duration_s=seconds, warmup_s=pace.warmup_s)
    one = CellSpec(variant=cells[0].variant, params=cells[0].params)
    return Plan(profile=plan.profile, measure=measure, sweeps=[], cells=[one]), pace


def cmd_soak(
    args: argparse.Namespace,
    plan: Plan,
    pace: soak.Schedule,
    cpus: pinning.CpuPlan,
    run_dir: Path,
) -> int:
    """Build, soak one variant (its plan and pace checked), add the growth after warm-up,
    write results and report."""
    known = matrix.load_variants()
    (cell,) = plan.cells
    oha_path = setup.prepare([known[cell.variant]], build=not args.no_build)
    run_dir.mkdir(parents=True, exist_ok=True)
    registry.copy_to(run_dir / "processes.json")
    print(f"run folder: {run_dir}\npinning: {cpus.note}", flush=True)
    print(
        f"soak: {cell.variant} {cell.label} for {duration(pace.duration_s)}: bursts of "
        f"{pace.burst_s:g} s, pauses of {pace.pause_s:g} s, warm-up {pace.warmup_s:g} s",
        flush=True,
    )
    opts = runner.Options(known, plan, cpus, args.db)
    try:
        soak.execute(opts, pace, run_dir, oha_path, lambda line: print(line, flush=True))
    finally:
        if (run_dir / "results.json").exists():
            print(f"report: {finish(run_dir)}", flush=True)
    run = store.load(run_dir / "results.json")
    assert run.soak is not None
    if run.soak.error:
        print(f"failed: {run.soak.error}")
    return 1 if run.soak.error else 0


def finish(run_dir: Path) -> Path:
    """Add the growth after warm-up to the run's results, render its report; return that."""
    from bench.analysis.soak import growth  # scipy loads only when a soak ends, not per command

    path = run_dir / "results.json"
    run = store.load(path)
    if run.soak is not None:
        run.soak.growth = growth(run.soak)
        store.save(run, path)
        if (found := run.soak.growth) is not None:
            print(
                f"growth after warm-up: {found.warm_rss_mib:.1f} -> {found.end_rss_mib:.1f} MiB "
                f"({found.growth_mib:+.1f} MiB, {found.growth_pct:+.1f}%), "
                f"slope {found.slope_mib_per_min:+.3f} MiB/min",
                flush=True,
            )
    return exports.write(run_dir)
