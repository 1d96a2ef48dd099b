"""The loop over cells, round-robin: repeat 1 of every cell, then repeat 2 of every cell, ...

Each repeat starts a fresh server process, pinned (start -> verify -> read back -> warm up ->
measure -> stop), so a repeat's luck (memory layout, hash seeds, a slow moment of the
machine) is its own, and a slow drift of the machine spreads over every cell instead of
landing on one. The closed-loop cells go first; the open-loop cells, whose rates come from
the closed-loop medians, follow in their own rounds. results.json is rewritten after every
repeat, so an interrupt or a crash loses at most the repeat in progress. Every step is
bounded in time: the health check, each verification request and each oha run have their
own deadline.
"""

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bench import interrupts
from bench.errors import BenchError
from bench.load import canary, latency, netns, oha, processes
from bench.load.sampling import Sampler
from bench.model.plan import CellSpec, Params, Plan
from bench.model.provider import Provider
from bench.model.results import Canary, Cell, Metadata, OpenLoop, Repeat, Run, ServerInfo
from bench.model.store import save
from bench.paths import REPORTS
from bench.plan import matrix
from bench.plan.matrix import Variant
from bench.plan.order import round_order, sides
from bench.plan.pinning import CpuPlan
from bench.plan.topology import LOOPBACK, Topology
from bench.run import environment, faults, network, probes
from bench.sut import database, variants
from bench.sut.variants import Server
from bench.sut.verify import health, verify

RUNS = REPORTS / "runs"
OHA_GRACE_S = 60.0  # beyond its own duration, before a stalled oha is killed
REQUESTS_TIMEOUT_S = 900.0  # bound for `-n` runs, which have no deadline of their own


@dataclass
class Options:
    """Everything one run needs, already validated."""

    variants: dict[str, Variant]
    plan: Plan
    cpus: CpuPlan
    db_provider: Provider | None = None
    fail_fast: bool = False  # stop at the first failed cell


Report = Callable[[str, str], None]  # (cell name, phase) -> None, for progress display


def now() -> str:
    """UTC now, ISO 8601 with a Z."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_run_dir() -> Path:
    """reports/runs/<UTC timestamp>-<short sha>."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return RUNS / f"{stamp}-{environment.short_sha()}"


def execute(opts: Options, run_dir: Path, oha_path: Path, on_phase: Report) -> Run:
    """Run every selected cell of the plan; return the run (also saved in run_dir)."""
    notes = [oha.NOTE]
    if opts.cpus.of("loadgen"):
        notes.append("the harness itself (the resource sampler) runs on the load generator's CPUs")
    selected = opts.plan.selected()
    chosen = [opts.variants[name] for name in dict.fromkeys(c.variant for c in selected)]
    data = environment.collect(chosen)
    data |= {"started_at": now(), "pinning": opts.cpus.as_dict(), "notes": notes}
    data["tools"]["oha"] = oha.version(oha_path)
    run = Run(run_id=run_dir.name, plan=opts.plan, metadata=Metadata.model_validate(data))
    save(run, run_dir / "results.json")
    run.cells = [Cell(variant=spec.variant, params=spec.params) for spec in selected]
    return measure(run, opts, run_dir, oha_path, on_phase)


def measure(run: Run, opts: Options, run_dir: Path, oha_path: Path, on_phase: Report) -> Run:
    """Measure what `run` lacks: its ceilings, then the repeats its cells miss, round-robin.

    A run that stops early (Ctrl-C, --fail-fast, a database lost for good, an error outside
    the cells) keeps what it measured; the cells left say why they are unfinished.
    """
    if harness_cpus := opts.cpus.of("loadgen"):
        os.sched_setaffinity(0, harness_cpus)  # keep the sampler off the server's CPUs
    path = run_dir / "results.json"
    try:
        db_cpus = opts.cpus.of("database")
        with (
            database.provision(opts.db_provider, cpus=db_cpus) as db,
            network.placed(run.cells, opts.db_provider, db_cpus) as placement,
        ):
            run.metadata.tools["postgres"] = db.server_version
            run.metadata.db_provider = db.provider
            watch = faults.DatabaseWatch(db, run.metadata.notes)
            ctx = _Context(opts, db, oha_path, run_dir, lambda: save(run, path), run.cells, watch)
            ctx.placement = placement
            probes.measure_missing(
                run, db, oha_path, opts.variants, opts.cpus, ctx.persist, on_phase
            )
            _rounds(run, ctx, on_phase)
    except KeyboardInterrupt:
        _unfinished(run, "interrupted")
        raise
    except Exception as exc:
        _unfinished(run, "stopped")
        run.metadata.notes.append(f"the run stopped early: {faults.reason(exc)}")
        if isinstance(exc, BenchError):
            raise
        raise BenchError(f"the run stopped: {faults.reason(exc)}") from exc
    finally:
        run.finished_at = now()
        save(run, path)
    return run


def _rounds(run: Run, ctx: "_Context", on_phase: Report) -> None:
    """Closed-loop rounds, then open-loop rounds: repeat i of every cell still going that
    has i repeats (a resumed cell continues where it stopped), in the round's own order."""
    for mode in ("closed", "open"):
        cells = [c for c in run.cells if c.params.mode == mode]
        for index in range(ctx.opts.plan.measure.repeats):
            order = round_order(cells, run.plan.seed, mode, index, sides)
            for cell in (c for c in order if _going(c) and len(c.repeats) == index):
                ctx.db = ctx.watch.check(f"{cell.variant} {cell.label}")
                _run_repeat(cell, index, ctx, on_phase)
                if ctx.opts.fail_fast and not _going(cell):
                    failure = cell.error or cell.repeats[-1].failure
                    raise faults.RunStopped(
                        f"stopped at the first failed cell (--fail-fast): "
                        f"{cell.variant} {cell.label}: {failure}"
                    )


def _unfinished(run: Run, how: str) -> None:
    """Say in each cell still going that the run ended before it did."""
    repeats = run.plan.measure.repeats
    for cell in (c for c in run.cells if _going(c) and len(c.repeats) < repeats):
        cell.error = f"{how} after {len(cell.repeats)} of {repeats} repeats"


def _going(cell: Cell) -> bool:
    """Whether a cell is still to be measured: no error, no failed repeat."""
    return cell.error is None and not any(r.failure for r in cell.repeats)


@dataclass
class _Context:
    """What every cell of a run shares."""

    opts: Options
    db: database.Database
    oha: Path
    run_dir: Path
    persist: Callable[[], None]  # rewrite results.json
    cells: list[Cell]  # the run's cells so far (an open-loop cell reads its closed one)
    watch: faults.DatabaseWatch
    placement: network.Placement | None = None  # the namespaces, if any cell runs in them
    topology: Topology = LOOPBACK  # the cell's own (its links' round trips set)


def _run_repeat(cell: Cell, index: int, ctx: _Context, on_phase: Report) -> None:
    """Measure one repeat of a cell on a fresh server; a failure fails this cell only."""
    name = f"{cell.variant} {cell.label}"
    repeats = ctx.opts.plan.measure.repeats

    def phase(text: str) -> None:
        interrupts.check()  # a Ctrl-C swallowed during a fork is honoured here
        on_phase(name, f"repeat {index + 1}/{repeats}: {text}")

    try:
        _measure(cell, index, ctx, phase)
    except Exception as exc:  # any failure fails this cell only; a Ctrl-C ends the run
        cell.error = faults.cell_error(exc, _log(cell, ctx))
    finally:
        ctx.persist()
    failure = cell.error or (cell.repeats[-1].failure if cell.repeats else None)
    on_phase(name, f"failed: {failure}" if failure else "done")


def _measure(cell: Cell, index: int, ctx: _Context, phase: Callable[[str], None]) -> None:
    """Start the cell's server pinned, its log appended to the cell's, and measure one repeat."""
    log = _log(cell, ctx)
    rtt = None
    if cell.params.net == "namespaces":  # its links set, measured before the load
        phase("setting the links")
        placement, topology, rtt = network.cell(ctx.placement, cell.params)
        ctx = replace(ctx, db=placement.db, topology=topology)
    phase("starting")
    variant = ctx.opts.variants[cell.variant]
    cpus = ctx.opts.cpus.of("server")
    before = canary.read(ctx.opts.cpus.used())
    with (
        netns.entered(ctx.topology.client.netns),  # the harness asks as oha does
        variants.running(
            variant, ctx.db, params=cell.params, cpus=cpus, log_path=log, append=index > 0,
            place=ctx.topology.server,
        ) as server,
    ):  # fmt: skip
        cell.artifacts["server_log"] = log.relative_to(ctx.run_dir).as_posix()
        _load_cell(cell, index, ctx, server, phase)
    if cell.repeats and cell.repeats[-1].index == index:
        after = canary.read(ctx.opts.cpus.used())
        cell.repeats[-1].canary = Canary(before=before, after=after)
        cell.repeats[-1].rtt_ms = rtt


def _load_cell(
    cell: Cell, index: int, ctx: _Context, server: Server, phase: Callable[[str], None]
) -> None:
    """Verify the running server, read back what it runs, warm it up, measure one repeat."""
    db, measure = ctx.db, ctx.opts.plan.measure
    phase("verifying")
    verify(cell.variant, server.url, db)
    cell.server = read_back(server, cell.params)
    cell.cpus["server"] = processes.cpus_allowed(server.pid)
    if db.postmaster_pid:  # an external server's CPUs are not this machine's to read
        cell.cpus["database"] = processes.cpus_allowed(db.postmaster_pid)
    target = oha.url(server.url, cell.params)
    if cell.params.mode == "open" and cell.open_loop is None:
        ab = ctx.opts.plan.baseline is not None  # A/B: both sides at the baseline's rate
        source = matrix.head(cell.variant) + matrix.SIDE if ab else cell.variant
        cell.open_loop = open_loop(cell, ctx.cells, source)
    host = f"127.0.0.1:{server.port}" if server.place.netns else None  # the servers' only name
    run = oha.Invocation(  # every request recorded, for the latency histograms
        target,
        cell.params,
        measure,
        open_loop=cell.open_loop,
        record=_recording(cell, ctx),
        host=host,
    )
    cell.oha_command = oha.command(ctx.oha, run)
    if measure.warmup_s:
        phase(f"warming up {measure.warmup_s:g}s")
        warmup = oha.command(ctx.oha, run.warmup(measure.warmup_s))
        _load(warmup, cell, ctx, server, measure.warmup_s)
    phase("measuring")
    cell.repeats.append(_repeat(index, cell, ctx, server))


def open_loop(cell: Cell, measured: list[Cell], rate_from: str | None = None) -> OpenLoop:
    """The offered rate and connections of an open-loop cell, from its closed-loop cell (of
    variant `rate_from`, by default its own; in an A/B run both sides are offered the
    baseline's rate, so their latencies compare at one load): the cell's fraction of that
    cell's median throughput, connections by Little's law on its median p99 latency (never
    fewer than its concurrency)."""
    closed = CellSpec(variant=rate_from or cell.variant, params=cell.params.closed())
    source = next((c for c in measured if c.id == closed.id and c.ok), None)
    if source is None or not cell.params.rate:
        raise BenchError(
            f"its closed-loop cell ({closed.label}) was not measured in this run: no rate to offer"
        )
    rps = statistics.median(r.load.rps for r in source.repeats)
    p99 = statistics.median(r.load.latency_ms.get("p99", 0.0) for r in source.repeats)
    offered = cell.params.rate * rps
    return OpenLoop(
        closed_cell=source.id,
        closed_rps=rps,
        offered_rps=offered,
        connections=oha.connections(offered, p99 / 1000, cell.params.concurrency),
        latency_basis_ms=p99,
    )


def read_back(server: Server, params: Params) -> ServerInfo:
    """What the server runs: argv from /proc, declared settings, its own /health answer, and
    the worker processes counted from /proc.

    A server that runs another server, event loop, HTTP parser, database driver, pool size,
    overflow, host check or number of workers than the cell declares fails the cell, with a
    sentence. A server that does not report its host check (a baseline from before the
    setting) ran it: every server did from 2963a85 (2026-12-02) on.
    """
    variant = server.variant
    declared = {k: v for k, v in matrix.runtime(params.runtime).items() if k != "requires"}
    reported = health(server.url)
    wanted = {k: declared[k] for k in ("server", "loop", "http") if variant.python}
    wanted |= {"driver": variant.driver} if variant.driver else {}
    wanted |= {"pool": params.pool}
    wanted |= {"overflow": params.overflow} if params.overflow is not None else {}
    wanted |= {"host_check": params.host_check}
    with netns.entered(server.place.netns):  # /proc/net shows the calling namespace's sockets
        counted = _workers(server, params.workers) if variant.python else None
    said = {"host_check": True} | reported | ({"workers": counted} if variant.python else {})
    wanted |= {"workers": params.workers} if variant.python else {}
    wrong = [f"{k} {said.get(k)!r} (declared {v!r})" for k, v in wanted.items() if said.get(k) != v]
    if wrong:
        raise BenchError(f"{variant.name} runs {', '.join(wrong)}: not the cell it claims")
    return ServerInfo(
        command=processes.cmdline(server.pid),
        declared={**declared, **wanted},
        reported=reported,
        workers=counted,
        database_connections=params.connections(),
    )


def _workers(server: Server, declared: int | None, wait_s: float = 5.0) -> int:
    """The processes accepting on the server's port, counted again for up to `wait_s` while
    they differ from `declared`: a second worker may bind after the first answers /health."""
    deadline = time.monotonic() + wait_s
    counted = processes.listeners(server.pid, server.port)
    while counted != declared and time.monotonic() < deadline:
        time.sleep(0.1)
        counted = processes.listeners(server.pid, server.port)
    return counted


def _repeat(index: int, cell: Cell, ctx: _Context, server: Server) -> Repeat:
    roots = {"server": server.pid}
    if ctx.db.postmaster_pid:
        roots["database"] = ctx.db.postmaster_pid
    started = now()
    record = _recording(cell, ctx)
    record.unlink(missing_ok=True)
    try:
        with Sampler(roots) as sampler:
            text = _load(
                cell.oha_command, cell, ctx, server, ctx.opts.plan.measure.duration_s, sampler
            )
        histogram = latency.encode(latency.from_oha(record))
    finally:
        record.unlink(missing_ok=True)  # a few MB per repeat; the histogram is what is kept
    result = oha.parse(text)
    return Repeat(
        index=index,
        started_at=started,
        load=result,
        latency_hdr=histogram,
        usage=sampler.usage(),
        failure=oha.judge(result),
        sampler_cpu_pct=sampler.overhead_pct,
    )


def _log(cell: Cell, ctx: _Context) -> Path:
    """The cell's server log (every repeat's output, appended)."""
    return ctx.run_dir / "cells" / cell.id / "server.log"


def _recording(cell: Cell, ctx: _Context) -> Path:
    """Where oha writes every request of a cell's repeat (read into a histogram, then removed)."""
    return ctx.run_dir / "cells" / cell.id / "requests.db"


def _load(
    cmd: list[str],
    cell: Cell,
    ctx: _Context,
    server: Server,
    seconds: float | None,
    sampler: Sampler | None = None,
) -> str:
    """Run oha pinned to the load generator's CPUs, bounded in time; return its JSON text."""
    timeout = seconds + OHA_GRACE_S if seconds else REQUESTS_TIMEOUT_S
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = processes.start(cmd, cpus=ctx.opts.cpus.of("loadgen"), log=out, errors=err)
        try:
            cell.cpus.setdefault("loadgen", processes.cpus_allowed(proc.pid))
            if sampler:
                sampler.add("loadgen", proc.pid)
            code, cpu = processes.wait(proc, timeout)
            if sampler:
                sampler.ended("loadgen", cpu)
        except subprocess.TimeoutExpired:
            processes.stop(proc)
            raise BenchError(f"oha did not finish within {timeout:g} s") from None
        except BaseException:
            processes.stop(proc)
            raise
        out.seek(0)
        err.seek(0)
        if server.proc.poll() is not None:
            raise BenchError(
                f"{cell.variant} exited with code {server.proc.returncode} during the load"
            )
        if code != 0:
            raise BenchError(f"oha exited with code {code}: {err.read().decode()[-300:]}")
        return out.read().decode()
