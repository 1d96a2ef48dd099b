"""The results model: the one definition of what results.json holds (pydantic v2). The plan's
models are in `bench.model.plan`, the machine's in `bench.model.machine`.

The JSON Schema in results.schema.json is generated from these classes
(`python -m bench.model --write-schema`); a test fails when the two disagree.

Format history. Any change a reader could notice (a field added, renamed or given a new
meaning) bumps SCHEMA_VERSION, adds its line below and a migration from the version before
(`bench.model.store.MIGRATIONS`), so an older file still loads and a file newer than the
reader is refused in one line naming both versions (a test holds this list and
SCHEMA_VERSION together):

  1 (2026-11): run metadata, cells (variant x load shape, identified by a label), repeats with
               oha numbers and resource summaries per role. Read through `bench.model.v1`.
  2 (2026-11): the plan (sweeps, cells, skips, shard, measurement settings); cells carry typed
               parameters (their id and label are derived from them), server details and
               artifacts (files relative to the run folder); run-level probes.
               Later, without a bump: the optional `overflow` parameter; open-loop cells
               (`mode` "open" with a `rate`, and the cell's `open_loop`); the `mode` axis left
               the sweeps; each repeat's `latency_hdr`; a soak run's `soak`; the plan's
               `seed`; each repeat's `canary`; an A/B run's `baseline` (cells named
               NAME@baseline); a merged run's `measured_in` per cell; the run's
               `flamegraphs`. Read through `bench.model.v2`.
  3 (2026-12-05): the plan's `reference` (the variant the report's "change vs" column compares
               with, from matrix.toml); metadata's `db_provider` (embedded, system or external;
               in version 2 it was `tools["db_provider"]`); every CPUs field holds a CPU list
               read from /proc or nothing (version 2 wrote "external" as the database's CPUs of
               a cell measured against an external server); a counted run's `counts` (server
               instructions per request under valgrind's callgrind, one figure per server life,
               with valgrind's version and command, `bench.model.counts`) and its
               `count_threshold_pct`; the CPU's `flags` and the host's `libc`; the topology
               parameters `net`, `db_rtt_ms` and `http_rtt_ms` (absent on loopback: ids
               unchanged) and each repeat's measured `rtt_ms`.
  4 (2026-12-05): the cell parameter `host_check` (absent when on, as every server of an
               older file ran: ids unchanged; off: the server answers requests naming any
               Host, as the published apps did) and a counted variant's `reported` (its
               /health answer, read back in every life); each counted life's `life` (its
               number: an A/B run counts life k of both sides as a pair in one lane) and
               `cpus`. Read through `bench.model.v3`.
  5 (2026-12-05): a counted life's `database` (with `--count-database`: the instructions of
               the Postgres backends serving the server's connections over the same window,
               their number and requests) and a counted cell's `database_command` (the
               postmaster's command under valgrind) and `database_error`. Read through
               `bench.model.v4`.
"""

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from bench.model.base import Model
from bench.model.counts import Counted
from bench.model.machine import Cpu, Host
from bench.model.plan import CellSpec, Params, Plan
from bench.model.provider import Provider
from bench.model.roles import Role

SCHEMA_VERSION = 5
FAILURE_THRESHOLD = 0.001  # a repeat fails when non-2xx + errors exceed 0.1% of requests
CpuList = Annotated[str, StringConstraints(pattern=r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$")]
"""A Cpus_allowed_list as /proc shows it, e.g. "0", "0-1" or "0,2-3"."""


class LoadResult(Model):
    """One oha run, counted the harness's way: only 2xx responses are good requests."""

    duration_s: float
    ok: int
    non_2xx: int
    errors: int
    rps: float = Field(description="good (2xx) responses per second of the run")
    latency_ms: dict[str, float] = Field(description="p50, p90, p99, p99.9, average, ...")
    status_codes: dict[str, int]
    error_kinds: dict[str, int]

    @property
    def bad_fraction(self) -> float:
        """Share of requests that were not 2xx or did not complete."""
        total = self.ok + self.non_2xx + self.errors
        return (self.non_2xx + self.errors) / total if total else 1.0


class Usage(Model):
    """Resource use of one role's process tree during a measured repeat (psutil samples)."""

    samples: int
    interval_s: float
    peak_rss_mib: float
    peak_uss_mib: float | None
    peak_pss_mib: float | None
    cpu_mean_pct: float = Field(description="100 = one CPU fully busy")
    cpu_peak_pct: float = Field(description="busiest 1 s window")
    processes: int = Field(description="the most processes seen in the tree at once")
    cpu_user_s: float | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="user CPU seconds (from birth, with reaped children)",
    )
    cpu_system_s: float | None = Field(
        None, exclude_if=lambda v: v is None, description="system CPU seconds, counted alike"
    )
    wall_s: float | None = Field(
        None, exclude_if=lambda v: v is None, description="the sampled period (s)"
    )

    @property
    def cpu_s(self) -> float | None:
        """CPU seconds, user + system (None for runs from before they were accounted)."""
        if self.cpu_user_s is None or self.cpu_system_s is None:
            return None
        return self.cpu_user_s + self.cpu_system_s


class CanaryReading(Model):
    """The machine canary at one moment: a fixed CPU workload's time on each pinned CPU."""

    ms: dict[str, float] = Field(description="CPU -> the workload's best-of-3 time (ms)")
    steal_s: dict[str, float] = Field(description="CPU -> steal time since boot (s)")


class Canary(Model):
    """The machine canary read before and after a repeat (no server running either time)."""

    before: CanaryReading
    after: CanaryReading


class Repeat(Model):
    """One measured repeat of a cell."""

    index: int
    started_at: str
    load: LoadResult
    latency_hdr: str | None = Field(
        None,
        description="every good request's latency (µs) as an encoded HdrHistogram "
        "(compressed, base64); open loop: from each request's intended send time",
    )
    usage: dict[Role, Usage] = Field(description="role -> usage")
    failure: str | None = None
    sampler_cpu_pct: float | None = Field(None, description="the sampler's own cost")
    canary: Canary | None = Field(  # absent from the file when None: older runs' files unchanged
        None, exclude_if=lambda v: v is None, description="the machine canary around this repeat"
    )
    rtt_ms: dict[str, float] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="net = namespaces: each link's round trip (db, http) measured from inside "
        "the namespaces before the load, ms (median of TCP handshakes)",
    )


class ServerInfo(Model):
    """What the server process ran, read back from it."""

    command: list[str] = Field(description="argv read back from /proc")
    declared: dict[str, Any] = Field(description="runtime settings from matrix.toml")
    reported: dict[str, Any] = Field(description="what the server says in GET /health")
    workers: int | None = Field(
        None, description="processes accepting on the server's port, counted from /proc"
    )
    database_connections: int | None = Field(description="workers x (pool + overflow), at most")


class OpenLoop(Model):
    """How an open-loop cell was driven, derived from its closed-loop cell."""

    closed_cell: str = Field(description="id of the closed-loop cell the rate comes from")
    closed_rps: float = Field(description="that cell's median throughput")
    offered_rps: float = Field(description="oha -q: requests per second sent")
    connections: int = Field(description="oha -c, sized by Little's law")
    latency_basis_ms: float = Field(description="the latency Little's law was applied to")


class Cell(CellSpec):
    """A measured cell: its parameters, what ran, and every repeat."""

    model_config = ConfigDict(frozen=False)

    oha_command: list[str] = []
    cpus: dict[Role, CpuList] = Field({}, description="role -> Cpus_allowed_list read from /proc")
    server: ServerInfo | None = None
    open_loop: OpenLoop | None = None
    repeats: list[Repeat] = []
    artifacts: dict[str, str] = Field({}, description="name -> path relative to the run folder")
    error: str | None = Field(None, description="why the cell could not be measured")
    measured_in: str | None = Field(  # absent from the file when None: other files unchanged
        None,
        exclude_if=lambda v: v is None,
        description="in a merged run: the run (shard) that measured this cell",
    )

    @property
    def ok(self) -> bool:
        """True when every repeat ran and none failed."""
        return (
            self.error is None and bool(self.repeats) and not any(r.failure for r in self.repeats)
        )


class Burst(Model):
    """One burst of a soak: one oha run, counted like a repeat's load."""

    started_s: float = Field(description="seconds since the soak started")
    duration_s: float
    ok: int
    non_2xx: int
    errors: int
    rps: float = Field(description="good (2xx) responses per second of the burst")


class Growth(Model):
    """How the server's memory (RSS of its process tree) moved after warm-up."""

    warm_rss_mib: float = Field(
        description="at the end of warm-up: median of the samples of the last burst and pause"
    )
    end_rss_mib: float = Field(description="at the end: median of the last burst and pause")
    growth_mib: float = Field(description="end_rss_mib - warm_rss_mib")
    growth_pct: float = Field(description="growth_mib as % of warm_rss_mib")
    slope_mib_per_min: float = Field(
        description="least-squares slope of every sample after warm-up (scipy linregress)"
    )
    slope_stderr: float = Field(description="the slope's standard error")
    samples: int = Field(description="samples after warm-up the slope was fitted to")


class Soak(Model):
    """A soak (`run --soak DURATION`): bursts of load with pauses between them against one
    variant, so that connection churn and idle periods both happen, and its server's memory
    sampled throughout."""

    variant: str
    params: Params
    duration_s: float
    warmup_s: float = Field(description="the first part of the soak, left out of the growth")
    burst_s: float = Field(description="each burst's length (oha -z)")
    pause_s: float = Field(description="idle time after each burst")
    oha_command: list[str] = Field([], description="a burst's command")
    server: ServerInfo | None = None
    cpus: dict[Role, CpuList] = Field({}, description="role -> Cpus_allowed_list read from /proc")
    time_s: list[float] = Field([], description="when each sample was taken, s since the start")
    rss_mib: list[float] = Field([], description="the server's RSS at each time (all processes)")
    bursts: list[Burst] = []
    growth: Growth | None = Field(None, description="None: too few samples after warm-up")
    error: str | None = Field(None, description="why the soak stopped early")


class Probe(Model):
    """A run-level measurement that belongs to no cell (a ceiling, say)."""

    name: str
    command: list[str] = []
    cpus: dict[str, CpuList] = Field({}, description="role -> the CPUs it was pinned to")
    values: dict[str, float] = {}
    artifacts: dict[str, str] = {}
    error: str | None = None


class Frame(Model):
    """A frame of a flamegraph and the samples it was the leaf of (its self time)."""

    name: str = Field(description="the frame as the profiler names it, line numbers dropped")
    samples: int = Field(description="samples in which this frame was on top of the stack")
    share: float = Field(description="samples / all samples of the flamegraph, 0-1")


Profiler = Literal["py-spy", "perf"]


class Flamegraph(Model):
    """Where one variant's CPU time went: a profiler attached to its server under a cell's
    load and pinning, in a run apart from the measured repeats (whose numbers it never
    touches), the profiler pinned to the load generator's CPUs."""

    variant: str
    params: Params = Field(description="the cell whose load and pinning it ran under")
    profiler: Profiler
    rate_hz: int = Field(description="samples per second the profiler was asked for")
    duration_s: float = Field(description="how long the profiler recorded, under load")
    command: list[str] = Field([], description="the profiler's command")
    oha_command: list[str] = []
    cpus: dict[str, CpuList] = Field({}, description="role -> Cpus_allowed_list read from /proc")
    samples: int = Field(0, description="stacks recorded (the folded file's total count)")
    top: list[Frame] = Field([], description="the frames with the most self time, most first")
    artifacts: dict[str, str] = Field(
        {}, description="folded stacks, SVG, server log: paths relative to the run folder"
    )
    error: str | None = Field(None, description="why there is no flamegraph (one line)")


class Git(Model):
    """The checkout a run came from."""

    commit: str | None = None
    dirty: bool | None = None


class VariantInfo(Model):
    """What a variant is and what its environment held."""

    summary: str
    packages: dict[str, str] = {}
    lock: str | None = Field(None, description="the lock it was built from, relative to the repo")
    lock_sha256: str | None = None


class Pinning(Model):
    """The CPU plan: CPUs per role (None: not pinned), where it came from, and a note."""

    source: str
    plan: dict[Role, list[int] | None]
    note: str


class Metadata(Model):
    """The environment of a run: what a reader needs to trust and reproduce the numbers."""

    model_config = ConfigDict(extra="allow")  # room for what later versions record

    started_at: str | None = None
    db_provider: Provider | None = Field(
        None, description="where Postgres came from (None: the run never got as far as one)"
    )
    host: Host = Host()
    cpu: Cpu = Cpu()
    affinity: list[int] = []
    tools: dict[str, str | None] = {}
    git: Git = Git()
    variants: dict[str, VariantInfo] = {}
    pinning: Pinning | None = None
    notes: list[str] = []
    merged_from: list[str] = []


class Run(Model):
    """A whole benchmark run: the plan, the environment, the cells in the order they ran."""

    schema_version: Literal[5] = 5
    run_id: str
    plan: Plan
    metadata: Metadata
    cells: list[Cell] = []
    probes: list[Probe] = []
    missing: list[str] = Field([], description="ids of planned cells no merged shard measured")
    soak: Soak | None = Field(  # absent from the file when None: other runs' files are unchanged
        None,
        description="a soak run's figures (its plan's one cell)",
        exclude_if=lambda v: v is None,
    )
    flamegraphs: list[Flamegraph] = Field(  # absent from the file when empty, like soak
        [],
        description="profiled runs apart from the measured ones (`--flamegraphs`, `flamegraph`)",
        exclude_if=lambda v: not v,
    )
    counts: list[Counted] = Field(  # absent from the file when empty, like flamegraphs
        [],
        description="server instructions per request under valgrind (`--count`)",
        exclude_if=lambda v: not v,
    )
    count_threshold_pct: float | None = Field(  # absent from the file when None
        None,
        description="--count-threshold: a counted A/B's verdict threshold in percent (None: "
        "each cell's smallest detectable change)",
        exclude_if=lambda v: v is None,
    )
    finished_at: str | None = None

    @property
    def profile(self) -> str:
        """The profile the plan came from."""
        return self.plan.profile


def runs_of(cells: Iterable[Cell]) -> list[str]:
    """The runs that measured `cells`, sorted: a merged run's shards (none for the cells of
    one unmerged run). Two or more: the cells were measured apart, maybe on other machines."""
    return sorted({c.measured_in for c in cells if c.measured_in is not None})
