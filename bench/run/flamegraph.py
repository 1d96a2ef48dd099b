"""Flamegraphs: each variant's server profiled under one cell's load and pinning, in a run
of its own, apart from the measured repeats.

Per variant: a fresh server pinned to the server's CPUs, verified; oha pinned to the load
generator's CPUs for the warm-up, the recording and a second more; after the warm-up the
profiler (py-spy for Python, perf for a native server), pinned to the load generator's CPUs
too, records the server's stacks for the cell's duration. Its folded stacks and an SVG drawn
from them go to `flamegraphs/` in the run folder. Nothing of this run enters a measured
figure: the profiler slows the server, so its throughput here is not recorded at all.
"""

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import interrupts
from bench.errors import BenchError
from bench.load import flame, oha, processes
from bench.model.plan import CellSpec, Measure, Plan
from bench.model.results import Flamegraph, Metadata, Profiler, Run
from bench.model.store import save
from bench.plan.matrix import Variant
from bench.plan.profiles import probe_seconds
from bench.run import environment, faults, runner
from bench.sut import database, profiling, variants
from bench.sut.verify import verify

FOLDER = "flamegraphs"
TAIL_S = 1.0  # oha loads the server this long after the profiler stops


@dataclass(frozen=True)
class Job:
    """One flamegraph to record: the cell whose load and pinning it runs under."""

    spec: CellSpec
    variant: Variant  # what to start: the variant, or its profiling build (Rust)
    rate_hz: int | None = None  # samples per second (None: the profiler's default)


def jobs(plan: Plan, known: dict[str, Variant], rate_hz: int | None = None) -> list[Job]:
    """A flamegraph per variant of the plan, under its first closed-loop cell."""
    first: dict[str, CellSpec] = {}
    for spec in plan.selected():
        if spec.params.mode == "closed":
            first.setdefault(spec.variant, spec)
    return [Job(s, profiling.variant(known[s.variant]), rate_hz) for s in first.values()]


def new_run(opts: runner.Options, run_dir: Path, oha_path: Path) -> Run:
    """A run holding only flamegraphs (`python -m bench flamegraph`), saved in `run_dir`."""
    chosen = [opts.variants[name] for name in dict.fromkeys(c.variant for c in opts.plan.cells)]
    data = environment.collect(chosen)
    data |= {"started_at": runner.now(), "pinning": opts.cpus.as_dict(), "notes": [oha.NOTE]}
    data["tools"]["oha"] = oha.version(oha_path)
    run = Run(run_id=run_dir.name, plan=opts.plan, metadata=Metadata.model_validate(data))
    save(run, run_dir / "results.json")
    return run


def execute(
    opts: runner.Options,
    todo: list[Job],
    run: Run,
    run_dir: Path,
    oha_path: Path,
    on_phase: runner.Report,
    done: Callable[[Flamegraph], None],
) -> None:
    """Record each job's flamegraph against one freshly seeded database; hand each to
    `done` as it is recorded. A flamegraph that fails says why and the next one goes on."""
    if harness_cpus := opts.cpus.of("loadgen"):
        os.sched_setaffinity(0, harness_cpus)  # keep the harness off the server's CPUs
    (run_dir / FOLDER).mkdir(parents=True, exist_ok=True)
    with database.provision(opts.db_provider, cpus=opts.cpus.of("database")) as db:
        run.metadata.tools.setdefault("postgres", db.server_version)
        run.metadata.db_provider = run.metadata.db_provider or db.provider
        for job in todo:
            name = f"flamegraph {job.spec.variant} {job.spec.label}"
            graph = record(job, opts, db, run_dir, oha_path, _reporter(on_phase, name))
            on_phase(name, f"no flamegraph: {graph.error}" if graph.error else "recorded")
            done(graph)


def _reporter(on_phase: runner.Report, name: str) -> Callable[[str], None]:
    def phase(text: str) -> None:
        interrupts.check()  # a Ctrl-C swallowed during a fork is honoured here
        on_phase(name, text)

    return phase


def record(
    job: Job,
    opts: runner.Options,
    db: database.Database,
    run_dir: Path,
    oha_path: Path,
    phase: Callable[[str], None],
) -> Flamegraph:
    """One variant's flamegraph; a failure (a profiler refused or missing, a server that
    dies) is its `error`, in one line."""
    profiler: Profiler = "py-spy" if job.variant.python else "perf"
    measure = opts.plan.measure
    graph = Flamegraph(
        variant=job.spec.variant,
        params=job.spec.params,
        profiler=profiler,
        rate_hz=job.rate_hz or flame.RATE_HZ[profiler],
        duration_s=flame.seconds_recorded(profiler, measure.duration_s or probe_seconds(measure)),
    )
    try:
        if profiler == "perf" and (refused := flame.perf_refusal(flame.perf())):
            graph.error = refused
            return graph
        _record(graph, job.variant, opts, db, run_dir, oha_path, phase)
    except Exception as exc:  # this flamegraph fails; a Ctrl-C ends the run
        graph.error = faults.reason(exc)
    return graph


def _record(
    graph: Flamegraph,
    variant: Variant,
    opts: runner.Options,
    db: database.Database,
    run_dir: Path,
    oha_path: Path,
    phase: Callable[[str], None],
) -> None:
    """Start the server pinned, verify it, load and profile it; keep the folded stacks and
    draw their SVG."""
    folder, stem = run_dir / FOLDER, graph.variant
    log, folded = folder / f"{stem}.server.log", folder / f"{stem}.folded"
    raw = folded if graph.profiler == "py-spy" else folder / f"{stem}.perf.data"
    graph.artifacts["server_log"] = _relative(log, run_dir)
    phase("starting")
    with variants.running(
        variant, db, params=graph.params, cpus=opts.cpus.of("server"), log_path=log
    ) as server:
        phase("verifying")
        verify(variant.name, server.url, db)
        graph.cpus["server"] = processes.cpus_allowed(server.pid)
        if db.postmaster_pid:
            graph.cpus["database"] = processes.cpus_allowed(db.postmaster_pid)
        _profile(graph, server, opts, oha_path, raw, phase)
    loadgen = opts.cpus.of("loadgen")
    if graph.profiler == "perf":
        phase("folding perf's samples")
        try:
            flame.fold_perf(_perf(), raw, folded, loadgen)
        finally:
            raw.unlink(missing_ok=True)  # tens of MB; the folded stacks are what is kept
    _draw(graph, folded, run_dir, loadgen)


def _profile(
    graph: Flamegraph,
    server: variants.Server,
    opts: runner.Options,
    oha_path: Path,
    raw: Path,
    phase: Callable[[str], None],
) -> None:
    """oha on the load generator's CPUs for the warm-up, the recording and TAIL_S more; the
    profiler, on the same CPUs, records the server into `raw` once the warm-up is over."""
    loadgen, warmup = opts.cpus.of("loadgen"), opts.plan.measure.warmup_s
    load_s = warmup + graph.duration_s + TAIL_S
    target = oha.url(server.url, graph.params)
    load = oha.Invocation(target, graph.params, Measure(duration_s=load_s))
    graph.oha_command = oha.command(oha_path, load)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = processes.start(graph.oha_command, cpus=loadgen, log=out, errors=err)
        try:
            graph.cpus["loadgen"] = processes.cpus_allowed(proc.pid)
            phase(f"warming up {warmup:g}s")
            _wait(warmup, server)
            phase(f"recording {graph.duration_s:g}s with {graph.profiler} at {graph.rate_hz} Hz")
            graph.command = _command(graph, server.pid, raw)
            graph.cpus["profiler"] = flame.record(graph.command, graph.duration_s, loadgen)
            code = proc.wait(TAIL_S + runner.OHA_GRACE_S)
        finally:
            processes.stop(proc)
        out.seek(0)
        err.seek(0)
        _check_load(graph, server, code, out.read().decode(), err.read().decode())


def _command(graph: Flamegraph, pid: int, out: Path) -> list[str]:
    if graph.profiler == "py-spy":
        return flame.py_spy_command(flame.py_spy(), pid, graph.rate_hz, graph.duration_s, out)
    return flame.perf_record_command(_perf(), pid, graph.rate_hz, graph.duration_s, out)


def _perf() -> Path:
    found = flame.perf()
    if found is None:
        raise BenchError("perf is not installed (Debian: apt-get install linux-perf)")
    return found


def _wait(seconds: float, server: variants.Server) -> None:
    """Sleep `seconds` while the load runs, watching for an interrupt and the server's death."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        interrupts.check()
        if server.proc.poll() is not None:
            break
        time.sleep(min(0.1, left))


def _check_load(graph: Flamegraph, server: variants.Server, code: int, out: str, err: str) -> None:
    """The server lived through the load, oha finished, and the answers were good (else the
    stacks would be those of failing requests)."""
    if server.proc.poll() is not None:
        raise BenchError(
            f"{graph.variant} exited with code {server.proc.returncode} under the profiler"
        )
    if code != 0:
        raise BenchError(f"oha exited with code {code}: {err[-300:]}")
    if failure := oha.judge(oha.parse(out)):
        raise BenchError(f"the server answered errors under the profiler: {failure}")


def _draw(graph: Flamegraph, folded: Path, run_dir: Path, cpus: list[int] | None) -> None:
    """Keep the folded stacks and draw their SVG (none without a sample)."""
    if not folded.exists() or not folded.read_text().strip():
        raise BenchError(f"{graph.profiler} recorded no sample of {graph.variant}")
    graph.artifacts["folded"] = _relative(folded, run_dir)
    svg = folded.with_suffix(".svg")
    title = (
        f"{graph.variant} ({graph.params.label()}): "
        f"{graph.profiler} at {graph.rate_hz} Hz for {graph.duration_s:g} s under load"
    )
    flame.svg(folded, svg, title, cpus)
    graph.artifacts["svg"] = _relative(svg, run_dir)


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()
