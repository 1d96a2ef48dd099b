"""Open loop: Little's-law sizing, the saturation rule, rates derived from the closed-loop
cell, shards that keep the two together, and a real open-loop cell end to end."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_matrix import plan

from bench import REPO
from bench.analysis import ceilings, openloop
from bench.errors import BenchError
from bench.load import oha
from bench.model import store
from bench.model.plan import CellSpec
from bench.model.results import Cell
from bench.plan import matrix, shards
from bench.plan.matrix import Variant
from bench.run.runner import open_loop

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("rate", "latency_s", "floor", "expected"),
    [
        (1000.0, 0.010, 10, 20),  # 1000/s x 10 ms = 10 in flight, doubled
        (1000.0, 0.0101, 10, 21),  # rounded up
        (100.0, 0.010, 10, 10),  # never fewer than the closed loop's connections
        (1e6, 1.0, 10, oha.MAX_CONNECTIONS),  # bounded
    ],
)
def test_connections_by_littles_law(
    rate: float, latency_s: float, floor: int, expected: int
) -> None:
    assert oha.connections(rate, latency_s, floor) == expected


@pytest.mark.parametrize(
    ("offered", "achieved", "saturated"),
    [(1000.0, 950.0, False), (1000.0, 949.9, True), (1000.0, 1003.0, False), (10.0, 0.0, True)],
)
def test_saturation_rule(offered: float, achieved: float, saturated: bool) -> None:
    assert openloop.saturated(offered, achieved) is saturated


def test_rate_and_connections_come_from_the_measured_closed_loop_cell() -> None:
    closed = store.load(DATA / "results-v2-ceilings.json").cells[0]
    params = closed.params.model_copy(update={"mode": "open", "rate": 0.5})
    cell = Cell(variant=closed.variant, params=params)
    plan = open_loop(cell, [closed])
    rps = [r.load.rps for r in closed.repeats]
    p99 = [r.load.latency_ms["p99"] for r in closed.repeats]
    assert plan.closed_cell == closed.id and plan.closed_rps == sorted(rps)[len(rps) // 2]
    assert plan.offered_rps == pytest.approx(0.5 * plan.closed_rps)
    assert plan.latency_basis_ms == sorted(p99)[len(p99) // 2]
    assert plan.connections == oha.connections(plan.offered_rps, plan.latency_basis_ms / 1000, 10)
    with pytest.raises(BenchError, match="was not measured in this run: no rate to offer"):
        open_loop(cell, [])


def test_shards_keep_open_loop_cells_with_their_closed_loop_cell() -> None:
    whole = plan(variants="axum,fastapi-tuned", concurrency="1,10", open_loop="0.5,0.9")
    known = matrix.load_variants()
    for shard in shards.split(whole, 2, known):
        mine = [c for c in whole.cells if c.id in shard.cells]
        ids = {c.id for c in mine}
        for cell in mine:
            assert CellSpec(variant=cell.variant, params=cell.params.closed()).id in ids


@pytest.mark.slow
def test_a_real_open_loop_cell(
    oha: Path, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench", "run", "--profile", "smoke", "--variants",
           "fastapi-async", "--open-loop", "0.5", "--no-build", "--out", str(out)]  # fmt: skip
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    closed, opened = store.load(out / "results.json").cells
    assert opened.ok and opened.open_loop and opened.params.rate == 0.5, opened.error
    assert opened.open_loop.closed_cell == closed.id
    assert opened.open_loop.offered_rps == pytest.approx(0.5 * closed.repeats[0].load.rps)
    command = " ".join(opened.oha_command)
    assert f"-q {opened.open_loop.offered_rps:.1f} --latency-correction" in command
    assert f"-c {opened.open_loop.connections} " in command
    achieved = ceilings.rps(opened)
    assert achieved and not openloop.saturated(opened.open_loop.offered_rps, achieved)
    assert "## Open loop" in (out / "report.md").read_text()
