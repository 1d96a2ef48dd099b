"""Latency distributions: each cell's percentiles from the pooled histograms of its repeats."""

from hdrh.histogram import HdrHistogram

from bench.model.results import Cell

HIGHEST_US = 3_600_000_000


def pooled(cell: Cell) -> HdrHistogram | None:
    """All of a measured cell's repeats in one histogram (None unless every repeat has one)."""
    encoded = [r.latency_hdr for r in cell.repeats]
    if not cell.ok or not encoded or any(e is None for e in encoded):
        return None
    total = HdrHistogram(1, HIGHEST_US, 3)
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
