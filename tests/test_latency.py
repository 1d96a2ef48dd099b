"""Latency distributions: oha's per-request output into HdrHistograms, pooled over repeats,
checked against percentiles computed directly from the raw latencies."""

import math
import random
import sqlite3
import subprocess
from pathlib import Path

import pytest

from bench.analysis import latency as pooled
from bench.load import latency
from bench.model.plan import Params
from bench.model.results import Cell, LoadResult, Repeat
from bench.plan.matrix import Variant
from bench.sut.database import Database
from bench.sut.variants import running

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def close(histogram_ms: float, values_us: list[int], percentile: float) -> bool:
    """The histogram's percentile is the raw values' nearest-rank one, give or take one rank
    (rank conventions differ) and the histogram's 3 significant digits."""
    ordered = sorted(values_us)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    low, high = ordered[max(0, rank - 2)], ordered[min(len(ordered) - 1, rank)]
    return low * (1 - 1e-3) - 1 <= histogram_ms * 1000 <= high * (1 + 1e-3) + 1


def cell_of(*samples: list[int]) -> Cell:
    """A measured cell whose repeats hold histograms of the given latencies (µs)."""
    repeats = []
    for index, values in enumerate(samples):
        hist = latency.empty()
        for v in values:
            hist.record_value(v)
        n = len(values)
        load = LoadResult(duration_s=1, ok=n, non_2xx=0, errors=0, rps=n, latency_ms={},
                          status_codes={"200": n}, error_kinds={})  # fmt: skip
        repeats.append(Repeat(index=index, started_at="t", load=load, usage={},
                              latency_hdr=latency.encode(hist)))  # fmt: skip
    params = Params(runtime=None, workers=None, pool=5, concurrency=10, keepalive=False, limit=100)
    return Cell(variant="v", params=params, repeats=repeats)


def test_pooled_percentiles_are_those_of_all_requests_together() -> None:
    rng = random.Random(7)
    fast = [round(rng.lognormvariate(7, 0.3)) for _ in range(5000)]  # about 1 ms
    slow = [round(rng.lognormvariate(9, 0.5)) for _ in range(500)]  # about 8 ms, a bad repeat
    cell = cell_of(fast, slow)
    both = fast + slow
    for p in PERCENTILES:
        got = pooled.pooled_ms(cell, f"p{p:g}")
        assert got is not None and close(got, both, p), (p, got)
    assert pooled.pooled_ms(cell, "max") == pytest.approx(max(both) / 1000, rel=1e-3)
    # a repeat without a histogram (an older run): no pooled value, the report falls back
    partial = cell.model_copy(
        update={
            "repeats": [*cell.repeats, cell.repeats[0].model_copy(update={"latency_hdr": None})]
        }
    )
    assert pooled.pooled_ms(partial, "p99") is None


@pytest.mark.slow
def test_real_oha_output_becomes_the_same_distribution(
    database: Database, built_variants: dict[str, Variant], oha: Path, tmp_path: Path
) -> None:
    """Two real oha runs (closed, then open with latency correction) against Axum."""
    raw: list[int] = []
    encoded = []
    with running(built_variants["axum"], database) as server:
        for extra in ([], ["-q", "800", "--latency-correction"]):
            db = tmp_path / f"run{len(encoded)}.db"
            cmd = [str(oha), "--no-tui", "--output-format", "json", "-c", "4", "-z", "1s",
                   *extra, "--db-url", str(db), f"{server.url}/users"]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
            with sqlite3.connect(db) as con:
                column = "end - start_latency_correction" if extra else "duration"
                rows = con.execute(f"SELECT {column} FROM oha WHERE status = 200").fetchall()
            values = [max(1, round(s * 1e6)) for (s,) in rows]
            hist = latency.from_oha(db)
            assert hist.get_total_count() == len(values) > 100
            for p in PERCENTILES:
                assert close(hist.get_value_at_percentile(p) / 1000, values, p), p
            raw += values
            encoded.append(latency.encode(hist))
    cell = cell_of([], [])
    cell = cell.model_copy(
        update={
            "repeats": [
                r.model_copy(update={"latency_hdr": e})
                for r, e in zip(cell.repeats, encoded, strict=True)
            ]
        }
    )
    for p in PERCENTILES:
        got = pooled.pooled_ms(cell, f"p{p:g}")
        assert got is not None and close(got, raw, p), p


def test_an_unreadable_oha_output_is_a_bench_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.db"
    bad.write_text("not sqlite")
    with pytest.raises(Exception, match="cannot read oha's per-request output"):
        latency.from_oha(bad)
