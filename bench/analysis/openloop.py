"""Open-loop cells: a rate the server could not sustain is saturated, not a latency."""

import statistics

from bench.model.results import Cell

SUSTAINED = 0.95  # achieved below 95% of the offered rate: saturated


def achieved(cell: Cell) -> float | None:
    """The median throughput the server achieved (None for a failed cell)."""
    return statistics.median(r.load.rps for r in cell.repeats) if cell.ok else None


def saturated(offered: float, achieved: float) -> bool:
    """Whether a server answered less than SUSTAINED of the rate it was offered."""
    return achieved < SUSTAINED * offered


def latency(cell: Cell, key: str) -> float | None:
    """The median over repeats of one latency statistic (p50, p99, p99.9, slowest), in ms."""
    values = [r.load.latency_ms[key] for r in cell.repeats if key in r.load.latency_ms]
    return statistics.median(values) if cell.ok and values else None
