"""The plan's models: what a run was asked to measure (its cells, sweeps, skips, shard and
measurement settings), as results.json stores it under `plan`. The history of the format is in
`bench.model.results`."""

import hashlib
import json
from typing import Any, Literal, TypeVar

from pydantic import ConfigDict, Field, computed_field

from bench.model.base import Model

DEFAULT_LIMIT = 100  # rows per response of the published endpoint (GET /users)


def axis_value(value: object) -> str:
    """An axis value as labels show it (keepalive on/off)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


class Params(Model):
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
    net: Literal["loopback", "namespaces"] = Field(  # absent when loopback: ids unchanged
        "loopback",
        exclude_if=lambda v: v == "loopback",
        description="loopback: every role in the harness's network namespace (127.0.0.1); "
        "namespaces: oha, the server and the database each in a namespace of their own, "
        "joined by veth links",
    )
    db_rtt_ms: float | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="namespaces: the round trip added between the server and the database (ms)",
    )
    http_rtt_ms: float | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="namespaces: the round trip added between oha and the server (ms)",
    )
    host_check: bool = Field(  # absent when on: ids unchanged
        True,
        exclude_if=lambda v: v is True,
        description="whether the server answers only requests whose Host names 127.0.0.1 or "
        "localhost (Starlette's TrustedHostMiddleware, Axum's trusted_host layer); off: the "
        "published apps' request path, which had no such check",
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
        if self.net == "namespaces":
            parts += [f"net={self.net}", f"db_rtt={self.db_rtt_ms:g}ms"]
            parts += [f"http_rtt={self.http_rtt_ms:g}ms"] if self.http_rtt_ms else []
        parts += [] if self.host_check else ["host_check=off"]
        mode = f"open@{self.rate:.0%}" if self.mode == "open" and self.rate else self.mode
        return " ".join([*parts, mode])


def cell_id(variant: str, params: Params) -> str:
    """A stable id from the variant and its parameters (12 hex digits of a SHA-256)."""
    unset = {k for k in ("overflow", "rate") if getattr(params, k) is None}
    values = params.model_dump(exclude=unset)
    canonical = json.dumps([variant, values], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


class CellSpec(Model):
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


class Skip(Model):
    """A combination of a sweep that was not planned for a variant, and why."""

    variant: str
    axes: dict[str, Any] = Field(description="the requested axis values")
    reason: str

    def text(self) -> str:
        """The requested values, e.g. "workers=2 keepalive=off"."""
        return " ".join(f"{k}={axis_value(v)}" for k, v in self.axes.items())


class Sweep(Model):
    """One sweep of a profile: a list of values per axis; its cells are the cross product."""

    name: str
    axes: dict[str, list[Any]]
    cells: list[str] = Field(description="ids of the planned cells, in plan order")


class Measure(Model):
    """How long each cell is measured: a warmup, then repeats of a duration or request count."""

    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    repeats: int = 1


class Shard(Model):
    """The I-th of N slices of a plan (balanced by estimated time)."""

    index: int = Field(ge=1)
    count: int = Field(ge=1)
    cells: list[str]


class Baseline(Model):
    """The other side of an A/B run (`--baseline REV`): a revision checked out beside this one,
    its variants built apart and measured in the same rounds as this checkout's."""

    rev: str = Field(description="the revision as given, e.g. main or HEAD~1")
    commit: str = Field(description="the commit it resolved to")


class Plan(Model):
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
    reference: str | None = Field(  # absent from the file when None, like the seed
        None,
        exclude_if=lambda v: v is None,
        description="the variant the report compares the others with (matrix.toml's "
        "`reference`; None: none declared, or a run from before it was recorded); how a run "
        "is reported, not part of the plan_id",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def plan_id(self) -> str:
        """Hash of everything but the shard, the seed and the reference: shards of one plan
        share it."""
        data = self.model_dump(mode="json", exclude={"shard", "seed", "reference", "plan_id"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def selected(self) -> list[CellSpec]:
        """The cells this run measures: the shard's, or all."""
        if self.shard is None:
            return list(self.cells)
        wanted = set(self.shard.cells)
        return [c for c in self.cells if c.id in wanted]


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
        values = {a: getattr(cell.params, a) for a in axes}
        parts = [
            f"{names.get(a, a)}={axis_value(values[a] if values[a] is not None else listed[0])}"
            for a, listed in axes.items()
        ]
        groups.setdefault(" ".join(parts) or "as planned", []).append(cell)
    return groups
