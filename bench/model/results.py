"""The results model: the one definition of what results.json holds (pydantic v2).

The JSON Schema in results.schema.json is generated from these classes
(`python -m bench.model --write-schema`); a test fails when the two disagree.

Format history (bump SCHEMA_VERSION on any change a reader could notice):
  1 (2026-11): run metadata, cells (variant x load shape, identified by a label), repeats with
               oha numbers and resource summaries per role. Read through `bench.model.v1`.
  2 (2026-11): the plan (sweeps, cells, skips, shard, measurement settings); cells carry typed
               parameters (their id and label are derived from them), server details and
               artifacts (files relative to the run folder); run-level probes.
               Later: the optional `overflow` parameter (absent or null: no overflow axis;
               cells without it keep their ids); open-loop cells (`mode` "open" with a
               `rate`, and the cell's `open_loop`); the `mode` axis left the sweeps; each
               repeat's `latency_hdr`; a soak run's `soak` (bursts against one variant, its
               server's memory over time, the growth after warm-up); the plan's `seed`;
               each repeat's `canary`; an A/B run's `baseline` (its cells' variants are
               named NAME@baseline); in a merged run, each cell's `measured_in` (the
               shard's run); the run's `flamegraphs` (a profiled run apart from the
               measured one: folded stacks and the top frames by self time).
"""

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from bench.model.machine import Cpu, Host
from bench.model.roles import Role

SCHEMA_VERSION = 2
FAILURE_THRESHOLD = 0.001  # a repeat fails when non-2xx + errors exceed 0.1% of requests
DEFAULT_LIMIT = 100  # rows per response of the published endpoint (GET /users)


def axis_value(value: object) -> str:
    """An axis value as labels show it (keepalive on/off)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


class _Model(BaseModel):
    """Strict about unknown keys; derived (computed) keys in a file are recomputed, not read."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


class Params(_Model):
    """The axis values of one cell. None: the axis means nothing for this cell's variant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: str | None = Field(description="how the app is served, e.g. uvicorn")
    workers: int | None = Field(description="server processes (None: not a Python server)")
    pool: int = Field(description="database connections per worker")
    overflow: int | None = Field(
        None, description="connections a SQLAlchemy pool may open beyond `pool` (None: no overflow)"
    )
    concurrency: int = Field(description="oha connections (-c)")
    keepalive: bool = Field(description="whether oha reuses connections")
    limit: int = Field(description="rows per response (GET /users?limit=N)")
    mode: Literal["closed", "open"] = Field(
        "closed",
        description="closed: each connection waits for its answer; open: requests are sent "
        "at a fixed rate, latency counted from each one's intended send time",
    )
    rate: float | None = Field(
        None, description="open loop: the offered rate as a fraction of the closed-loop median"
    )

    def closed(self) -> "Params":
        """The closed-loop cell an open-loop cell takes its rate from (itself if closed)."""
        return self.model_copy(update={"mode": "closed", "rate": None})

    def connections(self) -> int:
        """The most database connections the server may open: workers x (pool + overflow)."""
        return (self.workers or 1) * (self.pool + (self.overflow or 0))

    def label(self) -> str:
        """A short name of every axis that applies, e.g. "c=10 keepalive=off limit=100 ..."."""
        parts = [
            f"c={self.concurrency}",
            f"keepalive={axis_value(self.keepalive)}",
            f"limit={self.limit}",
            f"pool={self.pool}" + (f"+{self.overflow}" if self.overflow else ""),
        ]
        if self.workers is not None:
            parts.append(f"workers={self.workers}")
        if self.runtime is not None:
            parts.append(f"runtime={self.runtime}")
        mode = f"open@{self.rate:.0%}" if self.mode == "open" and self.rate else self.mode
        return " ".join([*parts, mode])


def cell_id(variant: str, params: Params) -> str:
    """A stable id from the variant and its parameters (12 hex digits of a SHA-256)."""
    unset = {k for k in ("overflow", "rate") if getattr(params, k) is None}
    values = params.model_dump(exclude=unset)
    canonical = json.dumps([variant, values], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


class CellSpec(_Model):
    """A planned cell: a variant under one set of axis values."""

    model_config = ConfigDict(frozen=True)

    variant: str
    params: Params

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """Derived from the variant and parameters, never stored as the identity."""
        return cell_id(self.variant, self.params)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """The parameters as a short text."""
        return self.params.label()


class Skip(_Model):
    """A combination of a sweep that was not planned for a variant, and why."""

    variant: str
    axes: dict[str, Any] = Field(description="the requested axis values")
    reason: str

    def text(self) -> str:
        """The requested values, e.g. "workers=2 keepalive=off"."""
        return " ".join(f"{k}={axis_value(v)}" for k, v in self.axes.items())


class Sweep(_Model):
    """One sweep of a profile: a list of values per axis; its cells are the cross product."""

    name: str
    axes: dict[str, list[Any]]
    cells: list[str] = Field(description="ids of the planned cells, in plan order")


class Measure(_Model):
    """How long each cell is measured: a warmup, then repeats of a duration or request count."""

    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    repeats: int = 1


class Shard(_Model):
    """The I-th of N slices of a plan (balanced by estimated time)."""

    index: int = Field(ge=1)
    count: int = Field(ge=1)
    cells: list[str]


class Baseline(_Model):
    """The other side of an A/B run (`--baseline REV`): a revision checked out beside this one,
    its variants built apart and measured in the same rounds as this checkout's."""

    rev: str = Field(description="the revision as given, e.g. main or HEAD~1")
    commit: str = Field(description="the commit it resolved to")


class Plan(_Model):
    """What a run was asked to measure: every cell of the profile, minus skips."""

    profile: str
    note: str = Field("", description="what the profile says of itself in the report")
    measure: Measure
    sweeps: list[Sweep]
    cells: list[CellSpec]
    skips: list[Skip] = []
    shard: Shard | None = None
    seed: int | None = Field(  # absent from the file when None: older runs' files unchanged
        None,
        exclude_if=lambda v: v is None,
        description="each round's order of the cells is shuffled from this seed (None: plan "
        "order, before seeds were recorded); how a run ordered its cells, not part of the plan_id",
    )
    baseline: Baseline | None = Field(  # absent from the file when None, like the seed
        None,
        exclude_if=lambda v: v is None,
        description="an A/B run's other side: its cells are the variants named NAME@baseline",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def plan_id(self) -> str:
        """Hash of everything but the shard and the seed: shards of one plan share it."""
        data = self.model_dump(mode="json", exclude={"shard", "seed", "plan_id"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def selected(self) -> list[CellSpec]:
        """The cells this run measures: the shard's, or all."""
        if self.shard is None:
            return list(self.cells)
        wanted = set(self.shard.cells)
        return [c for c in self.cells if c.id in wanted]


class LoadResult(_Model):
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


class Usage(_Model):
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


class CanaryReading(_Model):
    """The machine canary at one moment: a fixed CPU workload's time on each pinned CPU."""

    ms: dict[str, float] = Field(description="CPU -> the workload's best-of-3 time (ms)")
    steal_s: dict[str, float] = Field(description="CPU -> steal time since boot (s)")


class Canary(_Model):
    """The machine canary read before and after a repeat (no server running either time)."""

    before: CanaryReading
    after: CanaryReading


class Repeat(_Model):
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


class ServerInfo(_Model):
    """What the server process ran, read back from it."""

    command: list[str] = Field(description="argv read back from /proc")
    declared: dict[str, Any] = Field(description="runtime settings from matrix.toml")
    reported: dict[str, Any] = Field(description="what the server says in GET /health")
    workers: int | None = Field(
        None, description="processes accepting on the server's port, counted from /proc"
    )
    database_connections: int | None = Field(description="workers x (pool + overflow), at most")


class OpenLoop(_Model):
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
    cpus: dict[Role, str] = Field({}, description="role -> Cpus_allowed_list read from /proc")
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


class Burst(_Model):
    """One burst of a soak: one oha run, counted like a repeat's load."""

    started_s: float = Field(description="seconds since the soak started")
    duration_s: float
    ok: int
    non_2xx: int
    errors: int
    rps: float = Field(description="good (2xx) responses per second of the burst")


class Growth(_Model):
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


class Soak(_Model):
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
    cpus: dict[Role, str] = Field({}, description="role -> Cpus_allowed_list read from /proc")
    time_s: list[float] = Field([], description="when each sample was taken, s since the start")
    rss_mib: list[float] = Field([], description="the server's RSS at each time (all processes)")
    bursts: list[Burst] = []
    growth: Growth | None = Field(None, description="None: too few samples after warm-up")
    error: str | None = Field(None, description="why the soak stopped early")


class Probe(_Model):
    """A run-level measurement that belongs to no cell (a ceiling, say)."""

    name: str
    command: list[str] = []
    cpus: dict[str, str] = {}
    values: dict[str, float] = {}
    artifacts: dict[str, str] = {}
    error: str | None = None


class Frame(_Model):
    """A frame of a flamegraph and the samples it was the leaf of (its self time)."""

    name: str = Field(description="the frame as the profiler names it, line numbers dropped")
    samples: int = Field(description="samples in which this frame was on top of the stack")
    share: float = Field(description="samples / all samples of the flamegraph, 0-1")


Profiler = Literal["py-spy", "perf"]


class Flamegraph(_Model):
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
    cpus: dict[str, str] = Field({}, description="role -> Cpus_allowed_list read from /proc")
    samples: int = Field(0, description="stacks recorded (the folded file's total count)")
    top: list[Frame] = Field([], description="the frames with the most self time, most first")
    artifacts: dict[str, str] = Field(
        {}, description="folded stacks, SVG, server log: paths relative to the run folder"
    )
    error: str | None = Field(None, description="why there is no flamegraph (one line)")


class Git(_Model):
    """The checkout a run came from."""

    commit: str | None = None
    dirty: bool | None = None


class VariantInfo(_Model):
    """What a variant is and what its environment held."""

    summary: str
    packages: dict[str, str] = {}
    lock: str | None = Field(None, description="the lock it was built from, relative to the repo")
    lock_sha256: str | None = None


class Pinning(_Model):
    """The CPU plan: CPUs per role (None: not pinned), where it came from, and a note."""

    source: str
    plan: dict[Role, list[int] | None]
    note: str


class Metadata(_Model):
    """The environment of a run: what a reader needs to trust and reproduce the numbers."""

    model_config = ConfigDict(extra="allow")  # room for what later versions record

    started_at: str | None = None
    host: Host = Host()
    cpu: Cpu = Cpu()
    affinity: list[int] = []
    tools: dict[str, str | None] = {}
    git: Git = Git()
    variants: dict[str, VariantInfo] = {}
    pinning: Pinning | None = None
    notes: list[str] = []
    merged_from: list[str] = []


class Run(_Model):
    """A whole benchmark run: the plan, the environment, the cells in the order they ran."""

    schema_version: Literal[2] = 2
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
    finished_at: str | None = None

    @property
    def profile(self) -> str:
        """The profile the plan came from."""
        return self.plan.profile


def runs_of(cells: Iterable[Cell]) -> list[str]:
    """The runs that measured `cells`, sorted: a merged run's shards (none for the cells of
    one unmerged run). Two or more: the cells were measured apart, maybe on other machines."""
    return sorted({c.measured_in for c in cells if c.measured_in is not None})


C = TypeVar("C", bound=CellSpec)


def by_axes(cells: list[C], axes: dict[str, list[Any]]) -> dict[str, list[C]]:
    """Cells grouped by their values of `axes` ("c=10 keepalive=on"), in the order given: the
    load shapes whose cells the report compares with each other (shards keep them together).

    A cell without a value for an axis (workers of a Rust server) joins the group of the
    axis's first value, the one it was planned at. The variant plays no part.
    """
    names = {"concurrency": "c"}
    groups: dict[str, list[C]] = {}
    for cell in cells:
        values = cell.params.model_dump()
        parts = [
            f"{names.get(a, a)}={axis_value(values[a] if values[a] is not None else listed[0])}"
            for a, listed in axes.items()
        ]
        groups.setdefault(" ".join(parts) or "as planned", []).append(cell)
    return groups
