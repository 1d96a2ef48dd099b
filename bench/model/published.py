"""The published figures as data: reports/published/published.toml, read and checked.

Each run says where its figures come from and on what machine; each row is one published
stack, with the variants of this project that reproduce it. `ratio` gives the published
ratios (Axum ÷ FastAPI throughput, say), which, unlike absolute numbers, travel between
machines.
"""

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bench import REPO

FOLDER = REPO / "reports" / "published"  # the published figures and our reference runs
PUBLISHED = FOLDER / "published.toml"
FIGURES = ("rps", "p50_ms", "p99_ms", "p999_ms", "memory_mib", "cpu_pct")


class Row(BaseModel):
    """One published stack's figures."""

    model_config = ConfigDict(extra="forbid")

    variants: list[str] = Field(
        min_length=1, description="ours that reproduce it, as published first"
    )
    workers: int = 1
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float | None = None
    memory_mib: float | None = None
    cpu_pct: float | None = None
    approximate: list[str] = Field([], description="figures the source gives as approximate")


class PublishedRun(BaseModel):
    """A published run: its source, machine and command, and its rows."""

    model_config = ConfigDict(extra="forbid")

    title: str
    source: str = Field(min_length=1)
    machine: str
    command: str
    concurrency: int | None = Field(None, description="oha -c, where the source gives it")
    keepalive: bool | None = Field(None, description="whether oha reused connections, if given")
    rows: dict[str, Row]

    def ratio(self, figure: str, numerator: str, denominator: str) -> float | None:
        """`figure` of row `numerator` over that of row `denominator` (None if either lacks it)."""
        top, bottom = (getattr(self.rows[r], figure) for r in (numerator, denominator))
        return top / bottom if top is not None and bottom else None


def references() -> dict[str, Path]:
    """Our committed reference runs, `reports/published/<name>/results.json`, by name."""
    return {p.parent.name: p for p in sorted(FOLDER.glob("*/results.json"))}


def load(path: Path = PUBLISHED) -> dict[str, PublishedRun]:
    """Every published run, by name."""
    data = tomllib.loads(path.read_text())
    return {name: PublishedRun.model_validate(run) for name, run in data["runs"].items()}
