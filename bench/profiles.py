"""Profiles from matrix.toml: named load shapes, overridable from the command line."""

import re
import tomllib
from dataclasses import replace
from typing import Any

from bench.errors import UsageError
from bench.results import LoadShape
from bench.variants import MATRIX

MAX_DURATION_S = 600.0  # every load loop is bounded in time
MAX_REQUESTS = 1_000_000  # ... and in count
MAX_CONCURRENCY = 1000


def names() -> list[str]:
    """The profile names declared in matrix.toml."""
    return list(_table())


def _table() -> dict[str, dict[str, Any]]:
    return dict(tomllib.loads(MATRIX.read_text())["profiles"])


def seconds(text: str, what: str) -> float:
    """Parse "10s", "2.5s", "1m" or "500ms" into seconds; anything else is a UsageError."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", str(text))
    if not match:
        raise UsageError(f"{what} {text!r} is not a duration; write e.g. 10s, 500ms or 1m")
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2] or "s"]


def shape(profile: str, **overrides: Any) -> LoadShape:
    """The load shape of `profile` with command-line overrides (None values are ignored)."""
    table = _table()
    if profile not in table:
        raise UsageError(f"unknown profile {profile!r}; known profiles: {', '.join(table)}")
    spec = table[profile]
    base = LoadShape(
        concurrency=int(spec["concurrency"]),
        keepalive=bool(spec["keepalive"]),
        duration_s=seconds(spec["duration"], "duration") if "duration" in spec else None,
        requests=spec.get("requests"),
        warmup_s=seconds(spec.get("warmup", "0s"), "warmup"),
        repeats=int(spec.get("repeats", 1)),
    )
    given = {k: v for k, v in overrides.items() if v is not None}
    if "duration_s" in given:
        given["requests"] = None
    elif given.get("requests"):
        given["duration_s"] = None
    return check(replace(base, **given))


def check(s: LoadShape) -> LoadShape:
    """Refuse shapes outside the bounds every load loop must respect."""
    if not 1 <= s.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency {s.concurrency} is out of range; use 1-{MAX_CONCURRENCY}")
    if s.duration_s is not None and not 0 < s.duration_s <= MAX_DURATION_S:
        raise UsageError(f"--duration must be above 0 and at most {MAX_DURATION_S:g}s")
    if s.requests is not None and not 1 <= s.requests <= MAX_REQUESTS:
        raise UsageError(f"--requests {s.requests} is out of range; use 1-{MAX_REQUESTS}")
    if not 0 <= s.warmup_s <= MAX_DURATION_S:
        raise UsageError(f"--warmup must be between 0 and {MAX_DURATION_S:g}s")
    if not 1 <= s.repeats <= 100:
        raise UsageError(f"--repeats {s.repeats} is out of range; use 1-100")
    return s
