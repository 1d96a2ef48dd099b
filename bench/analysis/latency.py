"""Latency distributions: each cell's percentiles from the pooled histograms of its repeats."""

import statistics

from hdrh.histogram import HdrHistogram

from bench.load import latency
from bench.model.results import Cell, Repeat

OHA_KEYS = {"max": "slowest"}  # our names -> oha's, where they differ


def pooled(cell: Cell) -> HdrHistogram | None:
    """All of a measured cell's repeats in one histogram (None unless every repeat has one)."""
    encoded = [r.latency_hdr for r in cell.repeats]
    if not cell.ok or not encoded or any(e is None for e in encoded):
        return None
    total = latency.empty()
    for text in encoded:
        total.add(HdrHistogram.decode(text))
    return total


def percentile_ms(hist: HdrHistogram, percentile: float) -> float:
    """The value at `percentile` (0-100), in milliseconds."""
    return float(hist.get_value_at_percentile(percentile)) / 1000.0


def pooled_ms(cell: Cell, key: str) -> float | None:
    """A pooled statistic in ms: "p50", "p99", "p99.9", "p99.99" or "max" (None: no data)."""
    hist = pooled(cell)
    if hist is None or hist.get_total_count() == 0:
        return None
    if key == "max":
        return float(hist.get_max_value()) / 1000.0
    return percentile_ms(hist, float(key.removeprefix("p")))


def latency_ms(cell: Cell, key: str) -> float | None:
    """What the report shows for `key` ("p50" ... "max"): the pooled statistic where the run
    recorded every request, else the median over repeats of oha's own (None: failed cell)."""
    if not cell.ok:
        return None
    if (value := pooled_ms(cell, key)) is not None:
        return value
    oha_key = OHA_KEYS.get(key, key)
    values = [r.load.latency_ms[oha_key] for r in cell.repeats if oha_key in r.load.latency_ms]
    return statistics.median(values) if values else None


def repeat_ms(repeat: Repeat, key: str) -> float | None:
    """One repeat's `key` ("p50" ... "max") in ms: from its own histogram where recorded,
    else oha's figure (None when neither has it)."""
    if repeat.latency_hdr is not None:
        hist = HdrHistogram.decode(repeat.latency_hdr)
        if hist.get_total_count():
            if key == "max":
                return float(hist.get_max_value()) / 1000.0
            return percentile_ms(hist, float(key.removeprefix("p")))
    return repeat.load.latency_ms.get(OHA_KEYS.get(key, key))


CURVE = (50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99)


def curve(cell: Cell) -> list[tuple[float, float]]:
    """(percentile, ms) from p50 to p99.99 of the pooled histograms, else oha's percentiles
    (median over repeats); empty for a failed cell."""
    hist = pooled(cell)
    if hist is not None and hist.get_total_count():
        return [(p, percentile_ms(hist, p)) for p in CURVE]
    points = [(p, latency_ms(cell, f"p{p:g}")) for p in CURVE]
    return [(p, ms) for p, ms in points if ms is not None]
