"""Counted runs (`run --count`): each variant's server instructions per request under
valgrind's callgrind, instead of its time.

Per variant and life: a fresh server started under callgrind with counting off, pinned to
one CPU (a lane), verified and read back (its /health against the cell); oha sends
WARMUP_REQUESTS uncounted (at twice the pool's connections, so that every pool is fully
open), then counting is switched on (vgdb), oha sends the counted requests at one
connection, counting is switched off and the counters dumped; the dump's `totals:` over the
good requests is the life's count. Lanes run side by side, one per CPU (at most MAX_LANES).
With a baseline, a job is a pair: the head's life k and the baseline's life k, one after the
other in one lane (which first alternates with k), so that what a lane does to a count (its
CPU's neighbours, the time) is the same on both sides of each pair: twelve Axum lives of one
run averaged 753,868 instructions per request on CPU 0 and 748,411 on CPU 1, beside the
database (docs/measurements.md). A variant that fails under valgrind fails alone, with
valgrind's last lines; the rest go on.

How many lives: at least LIVES; a variant whose first life was cheap gets more, as many as
fit in LIFE_BUDGET_S, at most MAX_LIVES, the same number on both sides of an A/B. Axum's
lives differ by about 0.7% per life whatever their requests (docs/measurements.md), so its
three lives a side bounded its ratio only to about ±1.5%; a life takes it 2.4 s here, so
twelve cost 30 s. The count depends on the first life's wall time, never on its counts.
"""

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import interrupts
from bench.errors import BenchError
from bench.load import oha, processes, valgrind
from bench.model.counts import Count, Counted
from bench.model.plan import Measure, Params, Plan
from bench.model.results import Run
from bench.model.store import save
from bench.plan.matrix import Variant, head
from bench.run import dbcount, faults, runner
from bench.sut import database, variants
from bench.sut.verify import verify

FOLDER = "counts"
WARMUP_REQUESTS = 100
REQUESTS = 200  # counted per life: fastapi-async's lives 0.27% apart at 200 (measurements.md)
LIVES = 3  # at least
MAX_LIVES = 12
LIFE_BUDGET_S = 30.0  # per side: lives beyond LIVES while they fit (by the first life's wall)
MAX_LANES = 4
HEALTH_TIMEOUT_S = 300.0  # a Python server under valgrind starts in about 4 s here
OHA_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Settings:
    """How a counted run counts: lives per variant (at least `lives`; more for a cheap
    variant within `budget_s`, unless None), requests per counted window, and whether the
    database is counted too."""

    lives: int = LIVES
    requests: int = REQUESTS
    warmup_requests: int = WARMUP_REQUESTS
    budget_s: float | None = LIFE_BUDGET_S
    database: bool = False  # the database's backends counted too (`--count-database`)

    def lives_for(self, first_wall_s: float | None) -> int:
        """The lives of a variant whose first life took `first_wall_s`."""
        if self.budget_s is None or not first_wall_s:
            return self.lives
        return max(self.lives, min(MAX_LIVES, int(self.budget_s // first_wall_s)))


def params(of: Params) -> Params:
    """The cell a count runs under: the closed loop at one connection."""
    return of.closed().model_copy(update={"concurrency": 1})


def cells(plan: Plan) -> list[tuple[str, Params]]:
    """The (variant, params) pairs to count: each closed-loop cell of the plan at one
    connection, once, in plan order (a head beside its baseline)."""
    found: dict[tuple[str, Params], None] = {}
    for spec in plan.selected():
        found.setdefault((spec.variant, params(spec.params)), None)
    return list(found)


def warmup_connections(cell: Params) -> int:
    """The warm-up's connections: twice the server's pool, so that every pool has opened all
    its database connections before counting (a connection opened in the window costs
    Axum's count a SCRAM handshake, about 28M instructions: 20% of 200 requests)."""
    return 2 * cell.connections()


def lanes(cpus: list[int]) -> list[list[int]]:
    """One lane per CPU of the run (at most MAX_LANES): each counts one server at a time."""
    return [[cpu] for cpu in cpus[:MAX_LANES]]


def execute(
    opts: runner.Options,
    settings: Settings,
    run: Run,
    run_dir: Path,
    oha_path: Path,
    valgrind_path: Path,
    on_phase: runner.Report,
) -> Run:
    """Count every cell of the plan `settings.lives` times into `run.counts` (saved after each
    life), against one freshly seeded database."""
    version = valgrind.version(valgrind_path)
    run.counts = [
        Counted(variant=v, params=p, valgrind=version, warmup_requests=settings.warmup_requests)
        for v, p in cells(opts.plan)
    ]
    save(run, run_dir / "results.json")
    (run_dir / FOLDER).mkdir(parents=True, exist_ok=True)
    jobs: queue.Queue[list[tuple[Counted, int]]] = queue.Queue()
    planned: dict[tuple[str, Params], int] = {}  # a head and its baseline -> their lives

    def put(key: tuple[str, Params], lives: range) -> None:
        """Queue `lives` of a variant, each one job: its life beside its other side's, in
        one lane, which side first alternating with the life."""
        sides = [c for c in run.counts if _pair(c) == key]
        for life in lives:
            jobs.put([(c, life) for c in (sides if life % 2 == 0 else sides[::-1])])

    for life in range(settings.lives):
        for key in dict.fromkeys(_pair(c) for c in run.counts):
            put(key, range(life, life + 1))
    lock = threading.Lock()

    def plan_more(counted: Counted) -> None:
        """After a variant's first life: its lives (and its other side's), the extra ones
        queued."""
        key = _pair(counted)
        if key in planned or not counted.lives:
            return
        planned[key] = settings.lives_for(counted.lives[0].wall_s)
        put(key, range(settings.lives, planned[key]))

    counted_by = valgrind_path if settings.database else None
    with database.provision(
        opts.db_provider, cpus=opts.cpus.of("database"), counted_by=counted_by
    ) as db:
        run.metadata.tools.setdefault("postgres", db.server_version)
        run.metadata.tools["valgrind"] = version
        if db.cluster is not None and counted_by is not None:
            for counted in run.counts:
                counted.database_command = db.cluster.postgres_command()

        def lane(cpus: list[int]) -> None:
            while not interrupts_requested():
                try:
                    pair = jobs.get_nowait()
                except queue.Empty:
                    return
                for counted, life in pair:
                    if counted.error or interrupts_requested():
                        continue
                    job = _Job(counted, life, opts.variants[counted.variant], cpus, settings)
                    lives = planned.get(_pair(counted), settings.lives)
                    name = f"count {counted.variant} life {life + 1}/{lives}"
                    try:
                        _count(job, db, run_dir, oha_path, valgrind_path, _say(on_phase, name))
                    except KeyboardInterrupt:
                        return  # the server is stopped; the main thread raises it again
                    with lock:
                        plan_more(counted)
                        save(run, run_dir / "results.json")

        _in_lanes(lane, lanes(opts.cpus.used()))
    interrupts.check()
    return run


def _pair(counted: Counted) -> tuple[str, Params]:
    """What a head and its baseline share: the variant's name without its side, the cell."""
    return head(counted.variant), counted.params


def _say(on_phase: runner.Report, name: str) -> Callable[[str], None]:
    return lambda text: on_phase(name, text)


def interrupts_requested() -> bool:
    """Whether a Ctrl-C (or SIGTERM) asked the run to stop: lanes take no new job then."""
    try:
        interrupts.check()
    except KeyboardInterrupt:
        return True
    return False


def _in_lanes(lane: Callable[[list[int]], None], cpu_sets: list[list[int]]) -> None:
    """Run `lane` once per CPU set, side by side in threads; wait for all of them (an
    interrupt in this thread is raised once every lane has stopped its server)."""
    threads = [threading.Thread(target=lane, args=(cpus,), daemon=True) for cpus in cpu_sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt:
                continue  # the lanes see the request (interrupts.check) and stop


@dataclass(frozen=True)
class _Job:
    counted: Counted
    life: int
    variant: Variant
    cpus: list[int]
    settings: Settings


def _count(
    job: _Job,
    db: database.Database,
    run_dir: Path,
    oha_path: Path,
    valgrind_path: Path,
    phase: Callable[[str], None],
) -> None:
    """One life of one variant: its count appended, or its error set (valgrind's last
    lines where the server's log has them)."""
    counted = job.counted
    stem = f"{counted.variant}.life{job.life + 1}"
    log = run_dir / FOLDER / f"{stem}.log"
    out_dir = run_dir / FOLDER / stem
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        count = _life(job, db, log, out_dir, oha_path, valgrind_path, phase)
    except Exception as exc:  # this variant fails alone; a Ctrl-C ends the run
        counted.error = faults.cell_error(exc, log)
        phase(f"failed: {counted.error}")
        return
    counted.lives = [*counted.lives, count]
    counted.artifacts = {**counted.artifacts, f"life{job.life + 1}": f"{FOLDER}/{stem}"}
    in_db = f", database {count.database.per_request:,.0f}" if count.database else ""
    phase(f"{count.per_request:,.0f} instructions per request{in_db}")


def _life(
    job: _Job,
    db: database.Database,
    log: Path,
    out_dir: Path,
    oha_path: Path,
    valgrind_path: Path,
    phase: Callable[[str], None],
) -> Count:
    """Start the server under callgrind, warm it up, count its window, dump, read."""
    counted, settings = job.counted, job.settings

    def wrap(cmd: list[str]) -> list[str]:
        counted.command = valgrind.command(valgrind_path, out_dir, cmd)
        return counted.command

    phase("starting under valgrind")
    started = time.monotonic()
    with variants.running(
        job.variant,
        db,
        params=counted.params,
        cpus=job.cpus,
        log_path=log,
        wrap=wrap,
        health_timeout=HEALTH_TIMEOUT_S,
    ) as server:
        phase("verifying")  # every life, so that all lives start alike
        verify(job.variant.name, server.url, db)
        counted.reported = runner.read_back(server, counted.params).reported
        cpus = processes.cpus_allowed(server.pid)
        if job.life == 0:
            counted.cpus = {"server": cpus}
        target = oha.url(server.url, counted.params)
        warm = counted.params.model_copy(update={"concurrency": warmup_connections(counted.params)})
        _load(oha_path, target, warm, settings.warmup_requests, job.cpus)
        interrupts.check()
        backends = dbcount.Backends(valgrind_path, db, server.pid)
        valgrind.monitor(valgrind_path, server.pid, "instrumentation on")
        if dbcount.counted(db):
            backends.on()
        phase(f"counting {settings.requests} requests")
        cmd = _load(oha_path, target, counted.params, settings.requests, job.cpus)
        valgrind.monitor(valgrind_path, server.pid, "instrumentation off")
        in_db = backends.off(settings.requests, out_dir / "database") if backends.pids else None
        valgrind.monitor(valgrind_path, server.pid, "dump")
        counted.oha_command = cmd
        dumps = valgrind.dumps(out_dir, server.pid)
        if not dumps:
            raise BenchError(f"callgrind wrote no dump into {out_dir}")
        instructions = valgrind.totals(dumps[-1])
    wall = round(time.monotonic() - started, 1)
    top = valgrind.functions(valgrind_path, dumps[-1])
    if backends.error:
        counted.database_error = backends.error
    return Count(
        instructions=instructions,
        requests=settings.requests,
        wall_s=wall,
        functions=top,
        life=job.life + 1,
        cpus=cpus,
        database=in_db,
    )


def _load(oha_path: Path, target: str, params: Params, requests: int, cpus: list[int]) -> list[str]:
    """oha sends `requests` at one connection (beside the server, on its lane's CPU); all must
    be answered 2xx, else the count would be of failing requests. Its command."""
    cmd = oha.command(oha_path, oha.Invocation(target, params, Measure(requests=requests)))
    interrupts.check()
    try:
        result = oha.parse(processes.run(cmd, cpus=cpus, timeout=OHA_TIMEOUT_S))
    except Exception as exc:  # a failed or stalled oha: this life fails, with its words
        raise BenchError(f"oha failed under valgrind: {faults.reason(exc)}") from None
    if result.ok != requests:
        raise BenchError(
            f"{result.ok} of {requests} requests answered 2xx under valgrind: "
            f"{result.status_codes} {result.error_kinds}"
        )
    return cmd
