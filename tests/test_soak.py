"""`run --soak`: bad input is one line; a short real soak against Axum records a memory series
and growth figures that hold together; the growth arithmetic on known series."""

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_once
from test_cli import ENV, REPORTS, assert_one_line_usage_error, bench, tree

from bench import REPO
from bench.analysis.soak import growth
from bench.model import store
from bench.model.results import Soak
from bench.plan import profiles
from bench.run.soak import SAMPLE_S

BAD_SOAK = [
    # (id, run arguments, what the one line must say)
    ("duration", ["--soak", "10x", "--variants", "axum"], "--soak '10x' is not a duration"),
    ("too-short", ["--soak", "2s", "--variants", "axum"], "--soak 2s is too short"),
    ("no-variant", ["--soak", "15s"], "--soak runs one variant, not 5"),
    ("two-variants", ["--soak", "15s", "--variants", "axum,fastapi-async"], "not 2"),
    ("two-cells", ["--soak", "15s", "--variants", "axum", "--limit", "1,100"], "one cell, not 2"),
    ("shard", ["--soak", "15s", "--variants", "axum", "--shard", "1/1"], "no --shard"),
    ("repeats", ["--soak", "15s", "--variants", "axum", "--repeats", "2"], "no --repeats"),
    ("warmup", ["--soak", "15s", "--variants", "axum", "--warmup", "15s"], "leaves nothing"),
]


@pytest.mark.parametrize(
    ("args", "says"), [case[1:] for case in BAD_SOAK], ids=[c[0] for c in BAD_SOAK]
)
def test_bad_soak_input_is_one_line_exit_2_and_writes_nothing(args: list[str], says: str) -> None:
    before = tree(REPORTS)
    line = assert_one_line_usage_error(bench("run", "--no-build", *args))
    assert says in line, line
    assert tree(REPORTS) == before, "a refused soak changed reports/"


@pytest.mark.slow
def test_a_short_soak_records_memory_over_time_and_its_growth(oha: Path, tmp_path: Path) -> None:
    build_once("axum")
    out = tmp_path / "soak"
    cmd = [sys.executable, "-m", "bench", "run", "--soak", "15s", "--variants", "axum"]
    cmd += ["--no-build", "--out", str(out)]
    result = subprocess.run(
        cmd, cwd=REPO, env={**ENV, "OHA": str(oha)}, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "growth after warm-up: " in result.stdout
    soak = store.load(out / "results.json").soak
    assert soak is not None and soak.error is None
    assert (soak.duration_s, soak.warmup_s, soak.burst_s, soak.pause_s) == (15, 3, 1.5, 0.6)
    # about one sample a second for the whole soak, in time order, all of a live server
    assert 12 <= len(soak.time_s) == len(soak.rss_mib) <= 17
    assert soak.time_s == sorted(soak.time_s) and soak.time_s[-1] >= 13
    gaps = [b - a for a, b in itertools.pairwise(soak.time_s)]
    assert max(gaps) < 2.5 * SAMPLE_S, gaps
    assert all(1 < rss < 200 for rss in soak.rss_mib), soak.rss_mib
    # bursts with pauses between them, every answer good
    assert len(soak.bursts) >= 5 and all(b.ok > 0 for b in soak.bursts)
    assert sum(b.non_2xx + b.errors for b in soak.bursts) == 0
    starts = [b.started_s for b in soak.bursts]
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 1.5 + 0.5
    assert soak.server is not None and soak.server.reported["server"] == "axum"
    assert soak.oha_command[soak.oha_command.index("-z") + 1] == "1.5s"
    # the growth figures agree with the series and with each other
    found = soak.growth
    assert found is not None and found.samples == sum(t >= 3 for t in soak.time_s)
    assert min(soak.rss_mib) <= found.warm_rss_mib <= max(soak.rss_mib)
    assert min(soak.rss_mib) <= found.end_rss_mib <= max(soak.rss_mib)
    assert found.growth_mib == pytest.approx(found.end_rss_mib - found.warm_rss_mib, abs=0.001)
    assert found.growth_pct == pytest.approx(100 * found.growth_mib / found.warm_rss_mib, abs=0.1)
    assert abs(found.slope_mib_per_min) < 60  # Axum's RSS does not climb a MiB a second
    report = (out / "report.md").read_text()
    assert "## Soak: server memory over time" in report and "slope after warm-up" in report


def _soak(rss: list[float], warmup_s: float = 10.0) -> Soak:
    params = profiles.default_params()
    return Soak(
        variant="x",
        params=params,
        duration_s=len(rss),
        warmup_s=warmup_s,
        burst_s=2,
        pause_s=1,
        time_s=[float(t) for t in range(len(rss))],
        rss_mib=rss,
    )


def test_growth_of_a_steady_climb_and_of_a_flat_line() -> None:
    climbing = growth(_soak([50 + t / 60 for t in range(120)]))  # +1 MiB a minute
    assert climbing is not None
    assert climbing.slope_mib_per_min == pytest.approx(1.0, abs=1e-3)
    assert climbing.warm_rss_mib == pytest.approx(50 + 8.5 / 60, abs=0.01)  # median of t = 7..10
    assert climbing.end_rss_mib == pytest.approx(50 + 117.5 / 60, abs=0.01)  # t = 116..119
    assert climbing.samples == 110 and climbing.growth_pct > 0
    flat = growth(_soak([20.0] * 60))
    assert flat is not None
    assert (flat.growth_mib, flat.growth_pct, flat.slope_mib_per_min) == (0, 0, 0)
    assert growth(_soak([20.0] * 12)) is None  # two samples after warm-up: no line
