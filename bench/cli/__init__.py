"""`python -m bench`: the commands, the wiring of the stages, and one-line errors (the
grammar is in `bench.cli.grammar`).

Every input is checked before anything is built, started or written.
"""

import argparse
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench import REPO, interrupts, paths
from bench.cli import compare, count, exports, flamegraph, grammar, soak
from bench.errors import BenchError, UsageError
from bench.load import exclusive, leftovers, oha, registry
from bench.model import merge, store
from bench.model.plan import Plan
from bench.model.provider import Provider
from bench.model.results import Run
from bench.plan import matrix, pinning, profiles, shards
from bench.plan.describe import describe, duration
from bench.run import network, preflight, resume, runner, setup
from bench.run.progress import RunProgress
from bench.sut import baseline, database, locks, variants
from bench.sut.verify import verify


def cmd_build(args: argparse.Namespace) -> int:
    """Build the selected variants (never beside a run: it would measure the build)."""
    chosen = matrix.select(args.variants)
    exclusive.claim("build")
    setup.build(chosen)
    return 0


def _check_db(db: Provider | None, cleanup: bool, connect: bool = True) -> Provider:
    """The database options (--db, --db-cleanup), checked before anything is built or written;
    the provider."""
    provider = database.check(db, connect)
    if cleanup and provider != "external":
        raise UsageError(
            "--db-cleanup applies to --db external; a local cluster is removed after every run"
        )
    return provider


def _prepare(command: str, db: Provider | None, cleanup: bool, run_dir: Path) -> None:
    """Before a run (or soak, resume, flamegraph) builds or writes anything: its database
    options, the machine's preflight for its run folder, the machine taken, and the leftovers
    of earlier runs killed outright."""
    preflight.check(run_dir, _check_db(db, cleanup))
    _clean_up_earlier_runs(command)


@contextmanager
def _cleaning_up(args: argparse.Namespace) -> Iterator[None]:
    """With --db-cleanup, drop what the run created in the external database, however it ends."""
    try:
        yield
    finally:
        if args.db_cleanup:
            print(database.cleanup_external(), flush=True)


def cmd_db_cleanup(args: argparse.Namespace) -> int:
    """Drop the schema this tool created in DATABASE_URL's database (only with its mark)."""
    database.check("external")
    print(database.cleanup_external())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Build, provision, and verify each selected variant in turn."""
    chosen = matrix.select(args.variants)
    _check_db(args.db, args.db_cleanup)
    _clean_up_earlier_runs("verify")
    if not args.no_build:
        cmd_build(args)
    with _cleaning_up(args), database.provision(args.db) as db:
        print(f"database: {db.provider} PostgreSQL {db.server_version} at {db.safe_url}")
        for variant in chosen:
            with variants.running(variant, db) as server:
                checked = verify(variant.name, server.url, db)
            print(f"ok  {variant.name}: {checked} requests match the database", flush=True)
    return 0


def _clean_up_earlier_runs(command: str) -> None:
    """Take the machine (one harness measuring at a time: a UsageError while another runs),
    then stop what earlier runs that were killed left running; say so, one line for each."""
    exclusive.claim(command)
    for cleaned in leftovers.sweep():
        print(cleaned.line(), file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one variant in the foreground against a freshly seeded database."""
    (variant,) = matrix.select([args.variant])
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port; use 1-65535")
    _check_db(args.db, args.db_cleanup)
    _clean_up_earlier_runs("serve")
    if not args.no_build:
        setup.build([variant])
    with (
        _cleaning_up(args),
        database.provision(args.db) as db,
        variants.running(variant, db, port=args.port) as server,
    ):
        password = f", password in PGPASSFILE={db.passfile}" if db.passfile else ""
        print(
            f"{variant.name} serving {server.url}/users (database {db.safe_url}{password}); "
            "Ctrl-C to stop",
            flush=True,
        )
        code = server.proc.wait()
    raise BenchError(f"{variant.name} exited with code {code}: see {server.log}")


def _plan(args: argparse.Namespace) -> Plan:
    """The plan the run options describe (the whole plan; --shard is applied by the caller)."""
    profile = args.profile or ("ab" if args.baseline is not None else "default")
    chosen = matrix.select(args.variants or profiles.variants(profile))
    measure = profiles.measure(
        profile,
        repeats=args.repeats,
        requests=args.requests,
        duration_s=profiles.seconds(args.duration, "--duration") if args.duration else None,
        warmup_s=profiles.seconds(args.warmup, "--warmup") if args.warmup else None,
    )
    given = {a: getattr(args, a) for a in profiles.AXES if getattr(args, a) is not None}
    overrides = {axis: profiles.parse_axis(axis, text) for axis, text in given.items()}
    rates = profiles.parse_rates(args.open_loop) if args.open_loop is not None else None
    side = baseline.check(args.baseline) if args.baseline is not None else None
    if side is not None:
        chosen = baseline.paired(chosen, side)
    plan = profiles.build(profile, chosen, measure, overrides, rates)
    seed = secrets.randbelow(2**32) if args.seed is None else args.seed
    return plan.model_copy(update={"seed": seed, "baseline": side})


def _cpu_plan(args: argparse.Namespace) -> pinning.CpuPlan:
    if args.pin and args.no_pin:
        raise UsageError("--pin and --no-pin contradict each other; give one")
    if args.no_pin:
        return pinning.unpinned()
    return pinning.parse(args.pin) if args.pin else pinning.auto()


def _run_dir(out: Path | None) -> Path:
    """The run folder to write, checked to be creatable (it is created once the run starts)."""
    path = (out or runner.default_run_dir()).absolute()
    if (path / "results.json").exists():
        raise UsageError(f"--out {path} already holds a run; pass a new folder")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} is a file; pass a folder")
    preflight.writable(path)
    return path


def _create(run_dir: Path) -> Path:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {run_dir} cannot be created: {exc.strerror}") from None
    return run_dir


def cmd_run(args: argparse.Namespace) -> int:
    """Benchmark: check everything, build, provision, run every cell, write results and report."""
    if args.resume is not None:
        return _resume(args)
    if args.count:
        settings = count.check(args)  # valgrind first: nothing is built without it
        plan = _plan(args)
        count.threshold(args)
        run_dir = _run_dir(args.out)
        _prepare("run --count", args.db, args.db_cleanup, run_dir)
        _check_out_baseline(plan)
        with _cleaning_up(args):
            return count.cmd_count(args, plan, settings, _cpu_plan(args), run_dir)
    count.threshold(args)
    count.database(args)
    plan = _plan(args)
    if args.soak is not None:
        if plan.baseline is not None:
            raise UsageError("--soak watches one variant over time; --baseline does not apply")
        if args.flamegraphs:
            raise UsageError("--soak watches memory; record flamegraphs with `flamegraph`")
        if any(c.params.net != "loopback" for c in plan.cells):
            raise UsageError("--soak runs on loopback only: drop --net (and the round trips)")
        plan, pace = soak.check(args, plan)
        run_dir = _run_dir(args.out)
        _prepare("run --soak", args.db, args.db_cleanup, run_dir)
        with _cleaning_up(args):
            return soak.cmd_soak(args, plan, pace, _cpu_plan(args), run_dir)
    known = matrix.load_variants() | baseline.of(plan)
    if args.list_shards is not None:
        print(json.dumps(shards.listing(plan, args.list_shards, known)))
        return 0
    if args.shard:
        plan = shards.select(plan, *shards.parse(args.shard), known)
    plan = network.preflight(plan, args.db)  # root, ip, tc; netem for the added round trips
    cpus = _cpu_plan(args)
    if args.dry_run:
        _check_db(args.db, args.db_cleanup, connect=False)
        print(describe(plan, known))
        return 0
    run_dir = _run_dir(args.out)
    _prepare("run", args.db, args.db_cleanup, run_dir)
    _check_out_baseline(plan)
    chosen = [known[name] for name in dict.fromkeys(c.variant for c in plan.selected())]
    oha_path = setup.prepare(chosen, build=not args.no_build)
    if args.flamegraphs:
        flamegraph.prepare(chosen, not args.no_build)
    registry.copy_to(_create(run_dir) / "processes.json")
    estimate = profiles.total_estimate(plan.selected(), known, plan.measure)
    estimate += flamegraph.estimate(plan, known) if args.flamegraphs else 0.0
    print(f"run folder: {run_dir}\npinning: {cpus.note}", flush=True)
    print(f"{len(plan.selected())} cells, estimated {duration(estimate)}", flush=True)
    opts = runner.Options(known, plan, cpus, args.db, args.fail_fast)
    repeats = len(plan.selected()) * plan.measure.repeats

    def go(on: runner.Report) -> Run:
        run = runner.execute(opts, run_dir, oha_path, on)
        if args.flamegraphs:  # a run of their own, after the measured cells
            run = flamegraph.after_measuring(run, opts, run_dir, oha_path, on)
        return run

    with _cleaning_up(args):
        return _measure(run_dir, repeats, go)


def cmd_flamegraph(args: argparse.Namespace) -> int:
    """Profile one variant under a cell's load and pinning, in a run of its own."""
    plan, rate_hz = flamegraph.check(args)
    cpus = _cpu_plan(args)
    run_dir = _run_dir(args.out)
    _prepare("flamegraph", args.db, args.db_cleanup, run_dir)
    with _cleaning_up(args):
        return flamegraph.cmd_flamegraph(args, plan, rate_hz, cpus, run_dir)


def _check_out_baseline(plan: Plan) -> None:
    """An A/B run's baseline, checked out in its worktree (the rest was checked with the plan)."""
    if plan.baseline is not None:
        path = baseline.checkout(plan.baseline)
        print(f"baseline: {plan.baseline.rev} ({plan.baseline.commit[:12]}) in {path}", flush=True)


# Options that say what a run measures, how or where: a resumed run takes them from its file.
RESUME_CONFLICTS = ("profile", "variants", *profiles.AXES, "open_loop", "duration", "requests",
                    "warmup", "repeats", "pin", "no_pin", "shard", "list_shards", "dry_run",
                    "out", "db", "seed", "baseline", "flamegraphs", "count")  # fmt: skip


def _resume(args: argparse.Namespace) -> int:
    """Measure what an interrupted run lacks, as it was planned, pinned and provisioned."""
    given = [name for name in RESUME_CONFLICTS if getattr(args, name) not in (None, False)]
    if given:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
        raise UsageError(f"--resume takes the plan and settings from the run; drop {flags}")
    path = compare.results_file(args.resume)
    run, run_dir = store.load(path), path.parent.absolute()
    known = matrix.load_variants() | baseline.of(run.plan)
    resume.check(run, run_dir, known)
    if run.plan.baseline is not None:  # its worktree still as the run left it
        baseline.check(run.plan.baseline.commit)
    provider = resume.provider(run)
    _prepare("run --resume", provider, args.db_cleanup, run_dir)
    oha_path = oha.locate()
    resume.check_oha(run, run_dir, oha.version(oha_path))
    if resume.complete(run):
        print(f"{run_dir} is complete: nothing to resume", flush=True)
        _report_if_measured(run_dir)
        return 0
    left = resume.prepare(run, runner.now())
    _check_out_baseline(run.plan)
    if not args.no_build:
        setup.build(known[name] for name in dict.fromkeys(c.variant for c in run.cells))
    opts = runner.Options(known, run.plan, resume.cpu_plan(run), provider, args.fail_fast)
    print(f"resuming {run_dir}: {left} repeats left\npinning: {opts.cpus.note}", flush=True)
    with _cleaning_up(args):
        return _measure(run_dir, left, lambda on: runner.measure(run, opts, run_dir, oha_path, on))


def _measure(run_dir: Path, repeats: int, go: Callable[[runner.Report], Run]) -> int:
    """Run `go` with a progress display of `repeats`, then report; the exit code: 1 when a
    cell could not be measured."""
    try:
        with RunProgress(repeats) as progress:
            run = go(progress.phase)
    finally:
        _report_if_measured(run_dir)
    for cell in (c for c in run.cells if not c.ok):
        print(f"failed: {cell.variant} {cell.label}: {cell.error or 'error answers, see report'}")
    # A server answering errors is a result (in the report); a cell that could not be
    # measured (it crashed, answered wrong rows, stalled oha) fails the run.
    return 1 if any(c.error for c in run.cells) else 0


def _report_if_measured(run_dir: Path) -> None:
    """Render the report and point reports/latest at the run, if it measured anything."""
    path = run_dir / "results.json"
    if not path.exists():
        return
    if not any(cell.repeats for cell in store.load(path).cells):
        print(f"nothing was measured: no report; {path} says why", flush=True)
        return
    paths.link_latest(run_dir)
    print(f"report: {exports.write(run_dir)}", flush=True)


def cmd_report(args: argparse.Namespace) -> int:
    """Re-render one run's report, or merge several runs (shards) into a new one."""
    paths = [compare.results_file(p) for p in args.runs or [runner.RUNS.parent / "latest"]]
    loaded = [store.load(p) for p in paths]
    if len(loaded) == 1 and args.out is None:
        print(f"report: {exports.write(paths[0].parent)}")
        return 0
    merged = merge.merge(loaded, "")
    run_dir = _create(_run_dir(args.out))
    merged.run_id = run_dir.name
    store.save(merged, run_dir / "results.json")
    print(f"merged {len(loaded)} runs into {run_dir}\nreport: {exports.write(run_dir)}")
    if merged.missing:
        absent = merge.missing_shards(loaded)
        which = f" (shard {', '.join(absent)} not given)" if absent else ""
        print(f"missing: {len(merged.missing)} planned cells were not measured{which}")
        return 1
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    """Regenerate every lock file from pyproject.toml (keeping pins unless --upgrade)."""
    if args.variants:
        chosen = [v for v in matrix.select(args.variants) if v.python]
        written = [locks.lock_variant(v, upgrade=args.upgrade) for v in chosen]
    else:
        written = locks.lock_all(list(matrix.load_variants().values()), upgrade=args.upgrade)
    for path in written:
        print(f"locked {os.path.relpath(path, REPO)}", flush=True)
    return 0


COMMANDS = {
    "build": cmd_build,
    "lock": cmd_lock,
    "verify": cmd_verify,
    "serve": cmd_serve,
    "run": cmd_run,
    "flamegraph": cmd_flamegraph,
    "report": cmd_report,
    "compare": compare.cmd_compare,
    "db-cleanup": cmd_db_cleanup,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command, turning failures into one line and an exit code."""
    interrupts.install()
    try:
        grammar.use_matrix(argv)
        args = grammar.build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    finally:
        exclusive.release()


def at_exit() -> None:
    """At the process's exit (not main()'s: a test may call it in-process): stop whatever this
    process recorded that still runs, and say so (normally nothing: a net under the cleanups)."""
    with contextlib.suppress(KeyboardInterrupt), interrupts.deferred():
        if cleaned := leftovers.stop_own():
            print(cleaned.line(), file=sys.stderr)
