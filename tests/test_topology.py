"""The topology axes through the plan, and the report's network section and its bound, from a
stored real run (a smoke run of axum and fastapi-async on loopback and in namespaces, 2
repeats; results-network-smoke.json, latency histograms dropped)."""

import json
import statistics
from pathlib import Path

import pytest

from bench.analysis import network
from bench.model import store
from bench.model.plan import Measure
from bench.plan import matrix, profiles
from bench.render import network as section
from bench.render.page import Page
from bench.render.report import render

DATA = Path(__file__).parent / "data"
RUN = DATA / "results-network-smoke.json"


def plan(profile: str = "smoke", **axes: str) -> list[str]:
    chosen = matrix.select(["fastapi-async", "axum"])
    overrides = {a: profiles.parse_axis(a, v) for a, v in axes.items()}
    built = profiles.build(profile, chosen, Measure(duration_s=1), overrides)
    return [f"{c.variant} {c.label}" for c in built.cells] + [s.reason for s in built.skips]


def test_loopback_cells_keep_their_ids_and_labels() -> None:
    chosen = matrix.select(["axum"])
    before = profiles.build("smoke", chosen, Measure(duration_s=1), {})
    after = profiles.build("smoke", chosen, Measure(duration_s=1), {"net": ["loopback"]})
    assert [c.id for c in before.cells] == [c.id for c in after.cells]
    assert "net" not in before.cells[0].params.model_dump()  # absent: older files unchanged
    assert before.sweeps[0].axes.keys() == after.sweeps[0].axes.keys()
    assert "net" not in before.sweeps[0].axes


def test_round_trips_apply_in_namespaces_and_are_skipped_on_loopback() -> None:
    got = plan(net="loopback,namespaces", db_rtt_ms="0,1")
    assert "axum c=10 keepalive=off limit=100 pool=5 closed" in got
    assert "axum c=10 keepalive=off limit=100 pool=5 net=namespaces db_rtt=0ms closed" in got
    assert "axum c=10 keepalive=off limit=100 pool=5 net=namespaces db_rtt=1ms closed" in got
    assert len([g for g in got if g.startswith("axum c=")]) == 3
    assert "an added round trip means nothing on loopback (no link to delay): measured once" in got


def test_the_network_profile_sweeps_the_round_trip_and_the_pool_of_two_variants() -> None:
    chosen = matrix.select(profiles.variants("network"))
    built = profiles.build("network", chosen, profiles.measure("network"), {})
    namespaced = [c for c in built.cells if c.params.net == "namespaces"]
    assert sorted({c.params.db_rtt_ms for c in namespaced}) == [0, 0.2, 1, 2]
    assert len(namespaced) == 4 * (len(chosen) + 2)
    assert {c.variant for c in namespaced if c.params.pool == 20} == {"fastapi-async", "axum"}
    assert len([c for c in built.cells if c.params.net == "loopback"]) == len(chosen)
    estimate = profiles.total_estimate(built.cells, matrix.load_variants(), built.measure)
    assert estimate <= 15 * 60, "the network profile must fit in 15 minutes"


def test_the_bound_is_the_pool_over_the_cells_own_round_trip_and_service_time() -> None:
    run = store.load(RUN)
    raw = json.loads(RUN.read_text())
    found = network.points(run)
    assert {p.cell.variant for p in found} == {"axum", "fastapi-async"}
    for point in found:
        (cell,) = [c for c in raw["cells"] if c["variant"] == point.cell.variant
                   and c["params"].get("net") == "namespaces"]  # fmt: skip
        rtt = statistics.median(r["rtt_ms"]["db"] for r in cell["repeats"])
        service = statistics.median(
            1000
            * (r["usage"]["database"]["cpu_user_s"] + r["usage"]["database"]["cpu_system_s"])
            / (r["load"]["ok"] + r["load"]["non_2xx"])
            for r in cell["repeats"]
        )
        assert point.measured_ms == pytest.approx(rtt)
        assert point.service_ms == pytest.approx(service)
        assert point.bound_rps == pytest.approx(cell["params"]["pool"] * 1000 / (rtt + service))
        assert point.rps.median <= point.bound_rps


def test_the_section_shows_the_ratio_the_round_trips_and_the_loopback_cells(
    tmp_path: Path,
) -> None:
    run = store.load(RUN)
    text = render(run)
    part = text[text.index("## The database across a network") :]
    assert "axum ÷ fastapi-async (throughput)" in part
    axum, fastapi = (network.points(run)[i] for i in (0, 1))
    ratio = axum.rps.median / fastapi.rps.median
    assert f"\N{MULTIPLICATION SIGN}{ratio:.2f}" in part
    assert "| axum (pool 5) | 0 | 0.014 | 0 | 0.014 |" in part  # measured beside configured
    assert "namespaces (rps)" in part and "loopback (rps)" in part
    drawn = section.draw(run, tmp_path)
    assert drawn is not None and "axum (pool 5)" in drawn.read_text()


def test_a_run_without_namespace_cells_has_no_network_section() -> None:
    run = store.load(DATA / "results-v2.json")
    assert "## The database across a network" not in render(run)
    assert section.section(Page(run)) == ""
