"""The one results schema: the only code that reads or writes results.json.

Format history (bump SCHEMA_VERSION on any change a reader could notice):
  1 (2026-11): run metadata, cells (variant x load shape), repeats with oha numbers and
               resource summaries per role, run-level failures.
"""

import json
import os
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.errors import UsageError

SCHEMA_VERSION = 1
FAILURE_THRESHOLD = 0.001  # a repeat fails when non-2xx + errors exceed 0.1% of requests


@dataclass
class LoadShape:
    """How oha drives one cell: closed loop at `concurrency`, for a duration or a request count."""

    concurrency: int
    keepalive: bool
    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    repeats: int = 1

    def label(self) -> str:
        """A short name naming every axis, e.g. "c=10 keepalive=off 10s"."""
        amount = f"{self.duration_s:g}s" if self.duration_s else f"n={self.requests}"
        return f"c={self.concurrency} keepalive={'on' if self.keepalive else 'off'} {amount}"


@dataclass
class LoadResult:
    """One oha run, counted the harness's way: only 2xx responses are good requests."""

    duration_s: float
    ok: int
    non_2xx: int
    errors: int
    rps: float  # good (2xx) responses per second of the run
    latency_ms: dict[str, float]  # p50, p90, p99, p99.9, mean, fastest, slowest
    status_codes: dict[str, int]
    error_kinds: dict[str, int]

    @property
    def bad_fraction(self) -> float:
        """Share of requests that were not 2xx or did not complete."""
        total = self.ok + self.non_2xx + self.errors
        return (self.non_2xx + self.errors) / total if total else 1.0


@dataclass
class Usage:
    """Resource use of one role's process tree during a measured repeat (psutil samples)."""

    samples: int
    interval_s: float
    peak_rss_mib: float
    peak_uss_mib: float | None
    peak_pss_mib: float | None
    cpu_mean_pct: float  # 100 = one CPU fully busy
    cpu_peak_pct: float
    processes: int  # the most processes seen in the tree at once


@dataclass
class Repeat:
    """One measured repeat of a cell."""

    index: int
    started_at: str
    load: LoadResult
    usage: dict[str, Usage]  # role (server, database, loadgen) -> usage
    failure: str | None = None
    sampler_cpu_pct: float | None = None  # the sampler's own cost, % of one CPU


@dataclass
class Cell:
    """One variant under one load shape, with every repeat."""

    variant: str
    label: str
    shape: LoadShape
    oha_command: list[str]
    cpus: dict[str, str]  # role -> Cpus_allowed_list read back from /proc
    repeats: list[Repeat] = field(default_factory=list)
    error: str | None = None  # the cell could not be measured (server crashed, ...)

    @property
    def ok(self) -> bool:
        """True when every repeat ran and none failed."""
        return (
            self.error is None and bool(self.repeats) and not any(r.failure for r in self.repeats)
        )


def by_shape(cells: list[Cell]) -> dict[str, list[Cell]]:
    """Cells grouped by load-shape label, in the order they ran."""
    grouped: dict[str, list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.label, []).append(cell)
    return grouped


@dataclass
class Run:
    """A whole benchmark run: metadata, then the cells in the order they ran."""

    run_id: str
    profile: str
    metadata: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)
    finished_at: str | None = None
    schema_version: int = SCHEMA_VERSION


def dump(run: Run) -> str:
    """The JSON text for `run`, schema_version first, stable key order."""
    data = asdict(run)
    ordered = {"schema_version": data.pop("schema_version"), **data}
    return json.dumps(ordered, indent=2) + "\n"


def save(run: Run, path: Path) -> None:
    """Write atomically (temp file + rename) so an interrupt never leaves half a file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dump(run))
    os.replace(tmp, path)


def load(path: Path) -> Run:
    """Read a results.json; a missing, malformed or unknown-version file is a UsageError."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"no results file at {path}: pass a run folder or its results.json"
        ) from None
    except (ValueError, IsADirectoryError):
        raise UsageError(f"{path} is not a results.json written by this tool") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{path} has schema_version {version!r}; this version reads {SCHEMA_VERSION} only"
        )
    try:
        return _build(Run, data)
    except (TypeError, KeyError, ValueError) as exc:
        raise UsageError(f"{path} does not match results schema {SCHEMA_VERSION}: {exc}") from None


T = TypeVar("T")


def _build(cls: type[T], data: Any) -> T:
    """Rebuild a dataclass tree from plain JSON data, following the type hints."""
    hints = typing.get_type_hints(cls)
    kwargs = {
        f.name: _value(hints[f.name], data[f.name])
        for f in fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**kwargs)


def _value(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        return None
    if isinstance(hint, type) and is_dataclass(hint):
        return _build(hint, value)
    if origin in (typing.Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), value)
    if origin is list:
        return [_value(args[0], v) for v in value]
    if origin is dict:
        return {k: _value(args[1], v) for k, v in value.items()}
    return value
