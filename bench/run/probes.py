"""Ceilings, measured in the run under the same pinning: run-level probes beside the cells.

- database: pgbench running the benchmark query from the servers' CPUs with the pool's
  connection count, for the cells' duration: what Postgres can answer with no web stack;
- http: oha against Axum's in-memory `GET /users/static` (the same 100-row body, no
  database) with the run's oha command: what the load generator and an HTTP server reach.

The report divides each cell's throughput by the database ceiling and checks the load
generator's headroom (the HTTP ceiling over the fastest database-backed cell).
"""

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection
from pathlib import Path

import psutil

from bench import interrupts
from bench.errors import BenchError
from bench.load import oha, pgbench, processes
from bench.load.sampling import Sampler
from bench.model.plan import Measure, Params
from bench.model.results import Probe, Run, Usage
from bench.plan import pinning, profiles
from bench.plan.matrix import Variant
from bench.plan.pinning import CpuPlan
from bench.plan.profiles import probe_seconds
from bench.run import faults
from bench.sut import schema, variants
from bench.sut.cluster import embedded_bindir
from bench.sut.database import Database

GRACE_S = 60.0  # beyond its duration, before a stalled probe is stopped
CEILINGS = ("database", "http")


def measure_missing(
    run: Run,
    db: Database,
    oha_path: Path,
    known: dict[str, Variant],
    cpus: CpuPlan,
    persist: Callable[[], None],
    on_phase: Callable[[str, str], None],
) -> None:
    """The ceilings `run` lacks (all of a new run's), measured before the cells under the same
    pinning, each saved to results.json as it ends; a probe that fails records why."""
    params, measure = profiles.default_params(), run.plan.measure
    run.probes = [p for p in run.probes if p.error is None]  # a failed one is tried again
    for name in (n for n in CEILINGS if n not in {p.name for p in run.probes}):
        interrupts.check()
        on_phase("ceiling", CEILING_PHASES[name])
        try:
            if name == "database":
                probe = database_ceiling(db, cpus, params, measure)
            elif axum := next((v for v in known.values() if not v.python), None):
                probe = http_ceiling(axum, db, oha_path, cpus, params, measure)
            else:
                probe = Probe(name="http", error="no Rust variant to serve an in-memory route")
        except Exception as exc:
            probe = Probe(name=name, error=faults.reason(exc))
        run.probes = sorted([*run.probes, probe], key=lambda p: CEILINGS.index(p.name))
        persist()


CEILING_PHASES = {
    "database": "database: pgbench",
    "http": "HTTP: oha against Axum's in-memory route",
}


def database_ceiling(db: Database, cpus: CpuPlan, params: Params, measure: Measure) -> Probe:
    """pgbench with `params.pool` clients, pinned where the servers run."""
    probe = Probe(name="database")
    bindir = db.bindir or embedded_bindir()
    with tempfile.TemporaryDirectory() as tmp:
        script = pgbench.script(Path(tmp) / "query.sql", params.limit)
        cmd = pgbench.command(
            bindir / "pgbench", db.url, script, params.pool, probe_seconds(measure)
        )
        probe.command = [*cmd[:-2], "query.sql", db.safe_url]
        timeout = probe_seconds(measure) + GRACE_S
        try:
            env = {**db.client_env(), "PGOPTIONS": schema.options(db.schema)}
            roots = {"database": db.postmaster_pid} if db.postmaster_pid else {}
            with Sampler(roots) as sampler:
                out = processes.run(cmd, cpus=cpus.of("server"), env=env, timeout=timeout)
            probe.values = pgbench.parse(out) | {"clients": params.pool, "limit": params.limit}
            probe.values |= _cpu_seconds(sampler.usage())
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, BenchError) as exc:
            probe.error = f"pgbench failed: {str(getattr(exc, 'stderr', '') or exc).strip()[-200:]}"
            return probe
    probe.cpus = _cpus({"pgbench": cpus.of("server"), "database": cpus.of("database")})
    return probe


def http_ceiling(
    axum: Variant, db: Database, oha_path: Path, cpus: CpuPlan, params: Params, measure: Measure
) -> Probe:
    """oha (the run's command for `params`) against Axum's in-memory /users/static."""
    probe = Probe(name="http")
    if not axum.executable.exists():
        probe.error = f"{axum.name} is not built, so there is no in-memory route to load"
        return probe
    try:
        with variants.running(axum, db, params=params, cpus=cpus.of("server")) as server:
            run = oha.Invocation(
                f"{server.url}/users/static", params, measure, duration_s=probe_seconds(measure)
            )
            if measure.warmup_s:
                warm = oha.command(oha_path, run.warmup(measure.warmup_s))
                _oha(warm, cpus.of("loadgen"), measure.warmup_s)
            cmd = oha.command(oha_path, run)
            probe.command = cmd
            with Sampler({"server": server.pid}) as sampler:
                text, threads = _oha(cmd, cpus.of("loadgen"), probe_seconds(measure), sampler)
        result, usage = oha.parse(text), sampler.usage()
    except Exception as exc:  # a probe that fails says why; it never ends the run
        probe.error = faults.reason(exc)
        return probe
    probe.values = {"rps": result.rps, "ok": result.ok, "oha_threads": threads}
    probe.values |= {"concurrency": params.concurrency, "keepalive": float(params.keepalive)}
    probe.values |= {f"{role}_cpu_pct": u.cpu_mean_pct for role, u in usage.items()}
    probe.values |= _cpu_seconds(usage)
    probe.cpus = _cpus({"server": cpus.of("server"), "loadgen": cpus.of("loadgen")})
    return probe


def _cpu_seconds(usage: dict[str, Usage]) -> dict[str, float]:
    """Each role's CPU seconds (user + system) over the probe, where they were accounted."""
    return {f"{role}_cpu_s": u.cpu_s for role, u in usage.items() if u.cpu_s is not None}


def _cpus(roles: dict[str, list[int] | None]) -> dict[str, str]:
    """The CPUs each pinned role was given (an unpinned role: none, the report says "any")."""
    return {role: pinning.fmt(cpus) for role, cpus in roles.items() if cpus}


def _oha(
    cmd: list[str], cpus: Collection[int] | None, seconds: float, sampler: Sampler | None = None
) -> tuple[str, int]:
    """Run oha pinned, bounded in time; its JSON and the most threads it ran."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = processes.start(cmd, cpus=cpus, log=out, errors=err)
        if sampler:
            sampler.add("loadgen", proc.pid)
        threads, deadline = 0, time.monotonic() + seconds + GRACE_S
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise BenchError(f"oha did not finish within {seconds + GRACE_S:g} s")
                with contextlib.suppress(psutil.Error):
                    threads = max(threads, psutil.Process(proc.pid).num_threads())
                time.sleep(0.2)
        finally:
            processes.stop(proc)
        if proc.returncode != 0:
            err.seek(0)
            raise BenchError(
                f"oha exited with code {proc.returncode}: {err.read().decode()[-200:]}"
            )
        out.seek(0)
        return out.read().decode(), threads
