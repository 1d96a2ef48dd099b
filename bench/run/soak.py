"""Soak: bursts of load against one variant for a long time, its server's memory sampled.

One server process serves the whole soak (pinned like a cell's). oha runs in bursts of a
few seconds, the cell's shape (by default new connections for every request), with idle
pauses between them, so that connection churn, load and idle periods all happen; the RSS of
the server's whole process tree is sampled every second throughout. The growth after
warm-up is computed from that series by `bench.analysis.soak`.
"""

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import interrupts
from bench.errors import BenchError
from bench.load import oha, processes
from bench.load.sampling import Sampler
from bench.model.plan import Measure
from bench.model.results import Burst, Metadata, Run, Soak
from bench.model.store import save
from bench.run import environment, runner
from bench.sut import database, variants
from bench.sut.verify import verify

SAMPLE_S = 1.0  # one RSS sample per second
MAX_BURST_S, MIN_BURST_S = 5.0, 1.0  # bursts of a tenth of the soak, within these bounds
PAUSE_SHARE = 0.4  # each pause lasts 40% of a burst
MAX_WARMUP_S = 60.0  # warm-up: a fifth of the soak, at most a minute


@dataclass(frozen=True)
class Schedule:
    """How a soak is paced: its length, the warm-up left out of the growth, bursts, pauses."""

    duration_s: float
    warmup_s: float
    burst_s: float
    pause_s: float


def schedule(duration_s: float, warmup_s: float | None = None) -> Schedule:
    """The pace of a soak of `duration_s`: bursts of a tenth of it (1 to 5 s), pauses of 40%
    of a burst, and a warm-up of a fifth of it (at most 60 s) unless `warmup_s` is given."""
    burst = min(MAX_BURST_S, max(MIN_BURST_S, duration_s / 10))
    warmup = min(MAX_WARMUP_S, duration_s / 5) if warmup_s is None else warmup_s
    return Schedule(duration_s, warmup, burst, round(burst * PAUSE_SHARE, 2))


def execute(
    opts: runner.Options,
    pace: Schedule,
    run_dir: Path,
    oha_path: Path,
    say: Callable[[str], None],
) -> Run:
    """Soak the plan's one cell for `pace.duration_s`; return the run (also saved in run_dir)."""
    (cell,) = opts.plan.cells
    if harness_cpus := opts.cpus.of("loadgen"):
        os.sched_setaffinity(0, harness_cpus)  # keep the sampler off the server's CPU
    variant = opts.variants[cell.variant]
    data = environment.collect([variant])
    data |= {"started_at": runner.now(), "pinning": opts.cpus.as_dict(), "notes": [oha.NOTE]}
    data["tools"]["oha"] = oha.version(oha_path)
    soak = Soak(
        variant=cell.variant,
        params=cell.params,
        duration_s=pace.duration_s,
        warmup_s=pace.warmup_s,
        burst_s=pace.burst_s,
        pause_s=pace.pause_s,
    )
    run = Run(
        run_id=run_dir.name, plan=opts.plan, metadata=Metadata.model_validate(data), soak=soak
    )
    path = run_dir / "results.json"
    save(run, path)
    try:
        with database.provision(opts.db_provider, cpus=opts.cpus.of("database")) as db:
            run.metadata.tools["postgres"] = db.server_version
            run.metadata.db_provider = db.provider
            log = run_dir / "server.log"
            with variants.running(
                variant, db, params=cell.params, cpus=opts.cpus.of("server"), log_path=log
            ) as server:
                verify(variant.name, server.url, db)
                soak.server = runner.read_back(server, cell.params)
                soak.cpus["server"] = processes.cpus_allowed(server.pid)
                _soak(soak, opts, server, oha_path, say)
    except BenchError as exc:
        soak.error = str(exc)
    except KeyboardInterrupt:
        soak.error = f"interrupted after {soak.time_s[-1] if soak.time_s else 0:.0f} s"
        raise
    finally:
        run.finished_at = runner.now()
        save(run, path)
    return run


def _soak(
    soak: Soak,
    opts: runner.Options,
    server: variants.Server,
    oha_path: Path,
    say: Callable[[str], None],
) -> None:
    """The bursts and pauses, with the server's RSS sampled throughout into `soak`."""
    target = oha.url(server.url, soak.params)
    started = time.monotonic()
    sampler = Sampler({"server": server.pid}, interval=SAMPLE_S)
    try:
        with sampler:
            while (left := soak.duration_s - (time.monotonic() - started)) > 0:
                interrupts.check()
                if left >= MIN_BURST_S:
                    seconds = min(soak.burst_s, left)
                    burst = oha.Invocation(target, soak.params, Measure(), duration_s=seconds)
                    cmd = oha.command(oha_path, burst)
                    soak.oha_command = soak.oha_command or cmd
                    soak.bursts.append(_burst(cmd, time.monotonic() - started, opts, server))
                    say(_progress(soak, sampler))
                time.sleep(max(0.0, min(soak.pause_s, soak.duration_s - _since(started))))
    finally:
        series = sampler.series("server")
        soak.time_s = [round(t, 3) for t, _ in series]
        soak.rss_mib = [round(rss, 3) for _, rss in series]


def _since(started: float) -> float:
    return time.monotonic() - started


def _burst(cmd: list[str], at: float, opts: runner.Options, server: variants.Server) -> Burst:
    """One oha run against the server, pinned to the load generator's CPUs, bounded in time."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = processes.start(cmd, cpus=opts.cpus.of("loadgen"), log=out, errors=err)
        try:
            code = proc.wait(runner.OHA_GRACE_S + MAX_BURST_S)
        except subprocess.TimeoutExpired:
            raise BenchError("oha did not finish a burst within a minute") from None
        finally:
            processes.stop(proc)
        if server.proc.poll() is not None:
            raise BenchError(
                f"{server.variant.name} exited with code {server.proc.returncode} during the soak"
            )
        if code != 0:
            err.seek(0)
            raise BenchError(f"oha exited with code {code}: {err.read().decode()[-300:]}")
        out.seek(0)
        result = oha.parse(out.read().decode())
    return Burst(
        started_s=round(at, 3),
        duration_s=result.duration_s,
        ok=result.ok,
        non_2xx=result.non_2xx,
        errors=result.errors,
        rps=result.rps,
    )


def _progress(soak: Soak, sampler: Sampler) -> str:
    """One line after a burst: its throughput and the server's RSS now."""
    burst = soak.bursts[-1]
    rss = sampler.series("server")[-1:]
    memory = f", server RSS {rss[0][1]:.1f} MiB" if rss else ""
    return (
        f"{burst.started_s:7.1f}s burst {len(soak.bursts)}: {burst.rps:.0f} rps, "
        f"{burst.non_2xx + burst.errors} bad{memory}"
    )
