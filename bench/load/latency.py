"""Every request's latency, from oha's SQLite output (`--db-url`), as an HdrHistogram.

oha keeps one row per request: `end - start_latency_correction` is the latency from when the
request was due (open loop with --latency-correction), `duration` the latency from when it
was sent (closed loop). Good (2xx) answers only, in microseconds, 3 significant digits, up to
an hour; the histogram is stored encoded (compressed, base64) in results.json, a few KB.
"""

import sqlite3
from pathlib import Path

from hdrh.histogram import HdrHistogram

from bench.errors import BenchError

LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3
QUERY = (
    "SELECT COALESCE(end - start_latency_correction, duration) FROM oha "
    "WHERE status BETWEEN 200 AND 299"
)


def empty() -> HdrHistogram:
    """A histogram with the harness's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def from_oha(db_file: Path) -> HdrHistogram:
    """The latencies oha recorded in `db_file`, in microseconds."""
    hist = empty()
    try:
        with sqlite3.connect(db_file) as con:
            for (seconds,) in con.execute(QUERY):
                hist.record_value(min(HIGHEST_US, max(LOWEST_US, round(seconds * 1e6))))
    except sqlite3.Error as exc:
        raise BenchError(f"cannot read oha's per-request output {db_file.name}: {exc}") from None
    return hist


def encode(hist: HdrHistogram) -> str:
    """The compressed, base64 form HdrHistogram tools exchange."""
    return bytes(hist.encode()).decode("ascii")
