"""`python -m bench flamegraph VARIANT [load options]` and `run --flamegraphs`: their checks
and wiring (the recording is `bench.run.flamegraph`, the top frames `bench.analysis.frames`).

A flamegraph runs a variant under one cell's load and pinning, in a run of its own: the
`flamegraph` command's run folder holds only flamegraphs; `run --flamegraphs` records them
after the measured cells, into the same run folder, never into a measured figure.
"""

import argparse
from collections.abc import Iterable
from pathlib import Path

from bench.analysis import frames
from bench.cli import exports
from bench.errors import BenchError, UsageError
from bench.load import flame, registry
from bench.model.plan import Plan
from bench.model.results import Flamegraph, Run
from bench.model.store import save
from bench.plan import matrix, pinning, profiles
from bench.plan.matrix import Variant
from bench.run import faults, runner, setup
from bench.run import flamegraph as recording
from bench.sut import profiling

MAX_RATE_HZ = 5000
RECORD_OVERHEAD_S = 4.0  # per flamegraph: start, verify, fold and draw (perf's folding: more)


def check(args: argparse.Namespace) -> tuple[Plan, int | None]:
    """The one-cell plan a `flamegraph` command profiles, and its sample rate; a UsageError
    for anything else asked, before anything is built."""
    profile = args.profile or "default"
    (variant,) = matrix.select([args.variant])
    measure = profiles.measure(
        profile,
        repeats=1,
        duration_s=profiles.seconds(args.duration, "--duration") if args.duration else None,
        warmup_s=profiles.seconds(args.warmup, "--warmup") if args.warmup else None,
    )
    overrides = {}
    for axis in profiles.AXES:
        if (text := getattr(args, axis)) is not None:
            values = profiles.parse_axis(axis, text)
            if len(values) != 1:
                raise UsageError(
                    f"a flamegraph profiles one cell: give one value for --{axis}, not {text!r}"
                )
            overrides[axis] = values
    if overrides.get("net", ["loopback"]) != ["loopback"]:
        raise UsageError("a flamegraph runs on loopback only: drop --net (and the round trips)")
    plan = profiles.build(profile, [variant], measure, overrides, rates=[])
    (job,) = recording.jobs(plan, {variant.name: variant})
    one = Plan(profile=plan.profile, measure=measure, sweeps=[], cells=[job.spec])
    return one, sample_rate(args.sample_rate)


def sample_rate(given: int | None) -> int | None:
    """--sample-rate: samples per second, 1 to MAX_RATE_HZ (None: each profiler's default)."""
    if given is not None and not 1 <= given <= MAX_RATE_HZ:
        raise UsageError(f"--sample-rate {given} is out of range; use 1-{MAX_RATE_HZ} (Hz)")
    return given


def prepare(chosen: Iterable[Variant], build: bool) -> None:
    """Before anything is measured: inferno (installed once), and the profiling build of
    each Rust variant (built unless `build` is False, then it must exist); none where perf
    cannot sample (its flamegraph will say why)."""
    flame.inferno("inferno-flamegraph")
    native = [v for v in chosen if not v.python]
    if native and flame.perf_refusal(flame.perf()) is not None:
        return
    for variant in native:
        if build:
            print(f"building {variant.name} for profiling ...", flush=True)
            profiling.build(variant)
        elif missing := profiling.missing(variant):
            raise BenchError(
                f"{variant.name} has no profiling build ({missing}): run without --no-build"
            )


def estimate(plan: Plan, known: dict[str, Variant]) -> float:
    """Seconds the flamegraphs of `plan` add to a run: per variant, a fresh server, the
    warm-up, the recording and a second of load more, folding and drawing."""
    m = plan.measure
    per = m.warmup_s + (m.duration_s or profiles.probe_seconds(m)) + recording.TAIL_S
    jobs = recording.jobs(plan, known)
    return sum(profiles.START_S[j.variant.kind] + per + RECORD_OVERHEAD_S for j in jobs)


def record(
    run: Run,
    opts: runner.Options,
    run_dir: Path,
    oha_path: Path,
    on_phase: runner.Report,
    rate_hz: int | None = None,
) -> Run:
    """Record a flamegraph of each variant of the run's plan into `run` (saved after each),
    with its samples and top frames."""
    path = run_dir / "results.json"

    def done(graph: Flamegraph) -> None:
        if folded := graph.artifacts.get("folded"):
            try:
                graph.samples, graph.top = frames.summarize((run_dir / folded).read_text())
            except (OSError, ValueError) as exc:
                graph.error = f"the folded stacks cannot be read: {exc}"
        run.flamegraphs.append(graph)
        save(run, path)

    todo = recording.jobs(opts.plan, opts.variants, rate_hz)
    recording.execute(opts, todo, run, run_dir, oha_path, on_phase, done)
    return run


def after_measuring(
    run: Run, opts: runner.Options, run_dir: Path, oha_path: Path, on_phase: runner.Report
) -> Run:
    """`run --flamegraphs`, once the cells are measured: the flamegraphs, or a note saying
    why there are none (the measured run stands either way)."""
    try:
        return record(run, opts, run_dir, oha_path, on_phase)
    except BenchError as exc:
        run.metadata.notes.append(f"no flamegraphs: {faults.reason(exc)}")
        save(run, run_dir / "results.json")
        return run


def cmd_flamegraph(
    args: argparse.Namespace,
    plan: Plan,
    rate_hz: int | None,
    cpus: pinning.CpuPlan,
    run_dir: Path,
) -> int:
    """Build, record one variant's flamegraph in a run of its own, and report; exit code 1
    when it could not be recorded (the report says why)."""
    known = matrix.load_variants()
    (spec,) = plan.cells
    variant = known[spec.variant]
    python = [variant] if variant.python else []  # Axum: its profiling build only
    oha_path = setup.prepare(python, build=not args.no_build)
    prepare([variant], not args.no_build)
    run_dir.mkdir(parents=True, exist_ok=True)
    registry.copy_to(run_dir / "processes.json")
    print(f"run folder: {run_dir}\npinning: {cpus.note}", flush=True)
    opts = runner.Options(known, plan, cpus, args.db)
    run = recording.new_run(opts, run_dir, oha_path)
    try:
        record(run, opts, run_dir, oha_path, _say, rate_hz)
    finally:
        run.finished_at = runner.now()
        save(run, run_dir / "results.json")
        if run.flamegraphs:
            print(f"report: {exports.write(run_dir)}", flush=True)
    for graph in run.flamegraphs:
        print(_summary(graph, run_dir), flush=True)
    return 1 if any(g.error for g in run.flamegraphs) else 0


def _say(name: str, phase: str) -> None:
    print(f"{name}: {phase}", flush=True)


def _summary(graph: Flamegraph, run_dir: Path) -> str:
    """One line per flamegraph: where its SVG is and its hottest frame, or why it failed."""
    if graph.error:
        return f"no flamegraph of {graph.variant}: {graph.error}"
    hottest = f"; hottest frame {graph.top[0].name} ({graph.top[0].share:.1%})" if graph.top else ""
    return f"flamegraph: {run_dir / graph.artifacts['svg']} ({graph.samples} samples{hottest})"
