"""The matrix loop: for each cell start pinned -> verify -> warm up -> measure -> persist."""

import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import REPO, database, environment, interrupts, loadgen, processes, variants
from bench.errors import BenchError, UsageError
from bench.pinning import Plan
from bench.results import Cell, LoadShape, Repeat, Run, save
from bench.sampling import Sampler
from bench.variants import Server, Variant
from bench.verify import verify

RUNS = REPO / "reports" / "runs"
REQUESTS_TIMEOUT_S = 900.0  # bound for `-n` runs, which have no deadline of their own


@dataclass
class Options:
    """Everything one run needs, already validated."""

    variants: list[Variant]
    shape: LoadShape
    profile: str
    plan: Plan
    db_provider: str | None = None
    out: Path | None = None


Report = Callable[[str, str], None]  # (variant, phase) -> None, for progress display


def now() -> str:
    """UTC now, ISO 8601 with a Z."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_run_dir(out: Path | None) -> Path:
    """reports/runs/<UTC timestamp>-<short sha>, or --out; refuse a folder that holds a run."""
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RUNS / f"{stamp}-{environment.short_sha()}"
    if (out / "results.json").exists():
        raise UsageError(f"{out} already holds a run; pass a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def execute(opts: Options, run_dir: Path, oha: Path, on_phase: Report) -> Run:
    """Run every cell, saving results.json after each repeat and cell; return the run."""
    notes = [loadgen.NOTE]
    if harness_cpus := opts.plan.of("loadgen"):
        os.sched_setaffinity(0, harness_cpus)  # keep the sampler off the server's CPUs
        notes.append("the harness itself (the resource sampler) runs on the load generator's CPUs")
    metadata = environment.collect(opts.variants)
    metadata |= {"started_at": now(), "pinning": opts.plan.as_dict(), "notes": notes}
    metadata["tools"]["oha"] = loadgen.version(oha)
    run = Run(run_id=run_dir.name, profile=opts.profile, metadata=metadata)
    path = run_dir / "results.json"
    save(run, path)
    try:
        with database.provision(opts.db_provider, cpus=opts.plan.of("database")) as db:
            metadata["tools"] |= {"postgres": db.server_version, "db_provider": db.provider}
            for variant in opts.variants:
                cell = Cell(variant.name, opts.shape.label(), opts.shape, [], {})
                run.cells.append(cell)
                try:
                    _measure_cell(
                        cell, variant, db, oha, opts, run_dir, lambda: save(run, path), on_phase
                    )
                except BenchError as exc:
                    cell.error = str(exc)
                except KeyboardInterrupt:
                    cell.error = f"interrupted after {len(cell.repeats)} repeat(s)"
                    raise
                finally:
                    save(run, path)
                    on_phase(
                        variant.name, "done" if cell.ok else f"failed: {cell.error or 'see report'}"
                    )
    finally:
        run.finished_at = now()
        save(run, path)
    return run


def _measure_cell(
    cell: Cell,
    variant: Variant,
    db: database.Database,
    oha: Path,
    opts: Options,
    run_dir: Path,
    persist: Callable[[], None],
    on_phase: Report,
) -> None:
    def phase(name: str) -> None:
        interrupts.check()  # a Ctrl-C swallowed during a fork is honoured here
        on_phase(variant.name, name)

    phase("starting")
    with variants.running(
        variant, db.url, cpus=opts.plan.of("server"), log_dir=run_dir / "logs"
    ) as server:
        phase("verifying")
        verify(variant.name, server.url, db.url)
        url = f"{server.url}/users"
        cell.oha_command = loadgen.command(oha, url, opts.shape)
        cell.cpus["server"] = processes.cpus_allowed(server.pid)
        cell.cpus["database"] = (
            processes.cpus_allowed(db.postmaster_pid) if db.postmaster_pid else "external"
        )
        if opts.shape.warmup_s:
            phase(f"warming up {opts.shape.warmup_s:g}s")
            _load(loadgen.command(oha, url, opts.shape, opts.shape.warmup_s), cell, opts, server)
        for i in range(opts.shape.repeats):
            phase(f"repeat {i + 1}/{opts.shape.repeats}")
            cell.repeats.append(_repeat(i, cell, opts, server, db))
            persist()


def _repeat(index: int, cell: Cell, opts: Options, server: Server, db: database.Database) -> Repeat:
    roots = {"server": server.pid}
    if db.postmaster_pid:
        roots["database"] = db.postmaster_pid
    started = now()
    with Sampler(roots) as sampler:
        text = _load(cell.oha_command, cell, opts, server, sampler)
    result = loadgen.parse(text)
    return Repeat(
        index, started, result, sampler.usage(), loadgen.judge(result), sampler.overhead_pct
    )


def _load(
    cmd: list[str], cell: Cell, opts: Options, server: Server, sampler: Sampler | None = None
) -> str:
    """Run oha pinned to the load generator's CPUs; return its JSON text."""
    timeout = opts.shape.duration_s + 60 if opts.shape.duration_s else REQUESTS_TIMEOUT_S
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = processes.start(cmd, cpus=opts.plan.of("loadgen"), log=out, errors=err)
        try:
            cell.cpus.setdefault("loadgen", processes.cpus_allowed(proc.pid))
            if sampler:
                sampler.add("loadgen", proc.pid)
            code = proc.wait(timeout)
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


def link_latest(run_dir: Path) -> None:
    """Point reports/latest at `run_dir` (a relative symlink, replaced atomically)."""
    latest = REPO / "reports" / "latest"
    tmp = latest.with_name(".latest.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(run_dir, latest.parent))
    os.replace(tmp, latest)
