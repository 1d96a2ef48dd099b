"""`python -m bench run --count`: its checks and wiring (the counting is
`bench.run.counted`, the verdicts `bench.analysis.counts`).

A counted run measures no time: each variant's server instructions per request under
valgrind, at one connection, over a few fresh servers; with --baseline, head ÷ baseline.
"""

import argparse
import math
from pathlib import Path

from bench import paths
from bench.cli import exports
from bench.errors import UsageError
from bench.load import registry, valgrind
from bench.model.plan import Plan
from bench.model.results import Metadata, Run
from bench.model.store import save
from bench.plan import matrix, pinning
from bench.run import counted, environment, runner, setup
from bench.sut import baseline

# Options of `run` that ask for something a counted run does not do.
NOT_WITH_COUNT = {
    "soak": "--soak",
    "flamegraphs": "--flamegraphs",
    "concurrency": "--concurrency (counts are taken at one connection)",
    "open_loop": "--open-loop",
    "duration": "--duration (a count is of --requests)",
    "warmup": f"--warmup (a count warms up with {counted.WARMUP_REQUESTS} requests)",
    "shard": "--shard",
    "list_shards": "--list-shards",
    "dry_run": "--dry-run",
}
MAX_REQUESTS = 100_000


def check(args: argparse.Namespace) -> counted.Settings:
    """valgrind present, and the counted run's settings; a UsageError in one line, before
    anything is built or written."""
    valgrind.locate()
    if given := [flag for key, flag in NOT_WITH_COUNT.items() if getattr(args, key, None)]:
        raise UsageError(f"--count takes no {given[0]}; drop it")
    lives = args.repeats if args.repeats is not None else counted.LIVES
    if not 2 <= lives <= 50:
        raise UsageError(f"--repeats {lives} with --count: give 2-50 server lives (a spread)")
    requests = args.requests if args.requests is not None else counted.REQUESTS
    if not 10 <= requests <= MAX_REQUESTS:
        raise UsageError(f"--requests {requests} with --count: give 10-{MAX_REQUESTS}")
    budget = None if args.repeats is not None else counted.LIFE_BUDGET_S  # --repeats: exactly
    return counted.Settings(
        lives=lives,
        requests=requests,
        budget_s=budget,
        database=database(args),
    )


def database(args: argparse.Namespace) -> bool:
    """--count-database: only with --count, and only with a throwaway cluster."""
    if not getattr(args, "count_database", False):
        return False
    if not args.count:
        raise UsageError("--count-database counts the database of a counted run: add --count")
    if args.db == "external":
        raise UsageError(
            "--count-database runs Postgres under valgrind: drop --db external (the "
            "throwaway cluster is the harness's own)"
        )
    return True


def threshold(args: argparse.Namespace) -> float | None:
    """--count-threshold PCT, a percentage in (0, 100), only with --count --baseline."""
    text = args.count_threshold
    if text is None:
        return None
    if not args.count or args.baseline is None:
        raise UsageError("--count-threshold judges a counted A/B: add --count --baseline REV")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 100:
        raise UsageError(f"--count-threshold {text!r} is not a percentage in (0, 100); e.g. 1")
    return value


def new_run(opts: runner.Options, run_dir: Path, oha_path: Path, pct: float | None) -> Run:
    """A run holding only counts, saved in `run_dir`."""
    chosen = [opts.variants[name] for name in dict.fromkeys(c.variant for c in opts.plan.cells)]
    data = environment.collect(chosen)
    data |= {"started_at": runner.now(), "pinning": opts.cpus.as_dict()}
    data["tools"]["valgrind"] = valgrind.version(valgrind.locate())
    run = Run(run_id=run_dir.name, plan=opts.plan, metadata=Metadata.model_validate(data))
    run.count_threshold_pct = pct
    save(run, run_dir / "results.json")
    return run


def cmd_count(
    args: argparse.Namespace,
    plan: Plan,
    settings: counted.Settings,
    cpus: pinning.CpuPlan,
    run_dir: Path,
) -> int:
    """Build, count every variant (both sides with --baseline), report; exit code 1 when a
    variant could not be counted (the report says why)."""
    pct = threshold(args)
    known = matrix.load_variants() | baseline.of(plan)
    chosen = [known[name] for name in dict.fromkeys(c.variant for c in plan.selected())]
    oha_path = setup.prepare(chosen, build=not args.no_build)
    run_dir.mkdir(parents=True, exist_ok=True)
    registry.copy_to(run_dir / "processes.json")
    jobs = len(counted.cells(plan)) * settings.lives
    more = "" if settings.budget_s is None else " (more where a life is cheap)"
    print(f"run folder: {run_dir}\ncounting: {jobs} server lives{more} under valgrind", flush=True)
    opts = runner.Options(known, plan, cpus, args.db)
    run = new_run(opts, run_dir, oha_path, pct)
    try:
        counted.execute(opts, settings, run, run_dir, oha_path, valgrind.locate(), _say)
    finally:
        run.finished_at = runner.now()
        save(run, run_dir / "results.json")
        if any(c.lives for c in run.counts):
            paths.link_latest(run_dir)
            print(f"report: {exports.write(run_dir)}", flush=True)
    for cell in run.counts:
        if cell.error:
            print(f"failed: {cell.variant}: {cell.error}", flush=True)
    return 1 if any(c.error for c in run.counts) else 0


def _say(name: str, phase: str) -> None:
    print(f"{name}: {phase}", flush=True)
