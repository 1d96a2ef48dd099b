"""Ceilings and limits: the binding-resource rule, the headroom check, pgbench's output, and
both probes for real (pgbench against the test Postgres, oha against Axum's in-memory route).

Expected values are computed here from the stored samples of a real smoke run
(tests/data/results-v2-ceilings.json), so the file can be replaced by another real run.
"""

import statistics
from pathlib import Path

import pytest

from bench.analysis import ceilings
from bench.analysis.ceilings import Resource
from bench.load import pgbench
from bench.model import store
from bench.model.plan import Measure
from bench.model.results import Cell, Run, Usage
from bench.plan import pinning
from bench.plan.matrix import Variant
from bench.plan.profiles import default_params
from bench.render import limits, report
from bench.render.page import Page
from bench.run import probes
from bench.sut.database import Database

DATA = Path(__file__).parent / "data"
SERVER, SHARED = Resource(("server",)), Resource(("database", "loadgen"))
PGBENCH_OUTPUT = """pgbench (18.6)
transaction type: /tmp/query.sql
scaling factor: 1
query mode: prepared
number of clients: 5
number of threads: 1
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 49684
number of failed transactions: 0 (0.000%)
latency average = 0.301 ms
initial connection time = 8.282 ms
tps = 16596.662095 (without initial connection time)
"""


@pytest.fixture
def run() -> Run:
    return store.load(DATA / "results-v2-ceilings.json")


def usage(cpu: float) -> Usage:
    return Usage(samples=8, interval_s=0.25, peak_rss_mib=1.0, peak_uss_mib=None,
                 peak_pss_mib=None, cpu_mean_pct=cpu, cpu_peak_pct=cpu, processes=1)  # fmt: skip


def with_cpu(cell: Cell, **cpu: float) -> Cell:
    """`cell` with every repeat's CPU use of the given roles replaced."""
    repeats = [
        r.model_copy(update={"usage": {k: usage(v) for k, v in cpu.items()}}) for r in cell.repeats
    ]
    return cell.model_copy(update={"repeats": repeats})


def test_binding_follows_the_stored_samples(run: Run) -> None:
    plan = run.metadata.pinning.plan if run.metadata.pinning else {}
    assert plan == {"server": [0], "database": [1], "loadgen": [1]}
    for cell in run.cells:
        cpu = {role: statistics.median(r.usage[role].cpu_mean_pct for r in cell.repeats)
               for role in ("server", "database", "loadgen")}  # fmt: skip
        server, shared = cpu["server"] / 100, (cpu["database"] + cpu["loadgen"]) / 100
        found = ceilings.binding(cell, plan, 2)
        assert found is not None
        assert found.use == pytest.approx({SERVER: server, SHARED: shared})
        busiest = max((SERVER, server), (SHARED, shared), key=lambda x: x[1])
        assert found.resource == (busiest[0] if busiest[1] >= 0.9 else Resource()), cell.variant


def test_binding_rule_thresholds_and_shared_cpus(run: Run) -> None:
    cell = run.cells[0]
    split = {"server": [0], "database": [1], "loadgen": [2, 3]}

    def bound(plan: dict[str, list[int]], cpus: int, **cpu: float) -> ceilings.Binding:
        found = ceilings.binding(with_cpu(cell, **cpu), plan, cpus)
        assert found is not None
        return found

    assert bound(split, 4, server=89, database=10, loadgen=10).resource == Resource()
    assert bound(split, 4, server=90, database=10, loadgen=10).resource == SERVER
    two_cpus = bound(split, 4, server=10, database=10, loadgen=170)
    assert two_cpus.resource == Resource() and two_cpus.use[Resource(("loadgen",))] == 0.85
    shared = bound(
        {"server": [0], "database": [1], "loadgen": [1]}, 2, server=10, database=50, loadgen=45
    )
    assert shared.resource == SHARED
    unpinned = bound({}, 2, server=90, database=50, loadgen=45)
    assert unpinned.use == {Resource(("server", "database", "loadgen")): 0.925}
    assert ceilings.binding(cell.model_copy(update={"error": "boom"}), split, 4) is None


def test_a_resource_is_named_by_its_roles() -> None:
    assert SERVER.text() == "server CPU" and Resource().text() == "none"
    assert SHARED.text() == "database + load generator CPU"


def test_headroom_is_the_http_ceiling_over_the_fastest_cell(run: Run) -> None:
    room = ceilings.headroom(run)
    http = next(p for p in run.probes if p.name == "http")
    fastest = max(statistics.median(r.load.rps for r in c.repeats) for c in run.cells if c.ok)
    assert room and room.ceiling_rps == http.values["rps"] and room.fastest_rps == fastest
    assert room.ratio == pytest.approx(http.values["rps"] / fastest)
    assert room.oha_threads == http.values["oha_threads"]


@pytest.mark.parametrize(("factor", "warned"), [(1.5, True), (3.0, False)])
def test_headroom_warning_below_two(run: Run, factor: float, warned: bool) -> None:
    fastest = max(statistics.median(r.load.rps for r in c.repeats) for c in run.cells if c.ok)
    http = next(p for p in run.probes if p.name == "http")
    http.values["rps"] = factor * fastest
    text = report.render(run)
    assert ("**Warning**: below 2" in text) == warned
    assert f"{factor:.1f}\N{MULTIPLICATION SIGN} the fastest database-backed cell" in text


def test_each_cell_is_shown_as_a_share_of_the_database_ceiling(run: Run) -> None:
    tps = next(p for p in run.probes if p.name == "database").values["tps"]
    section = limits.section(Page(run))
    for cell in run.cells:
        share = statistics.median(r.load.rps for r in cell.repeats) / tps
        assert ceilings.share_of_database(cell, run) == pytest.approx(share)
        assert f"| {cell.variant} | {cell.label} |" in section and f"{share:.0%}" in section


def test_the_limits_table_names_each_cpu_set_and_what_bound_each_cell(run: Run) -> None:
    section = limits.section(Page(run))
    assert "| bound by | server CPU | database + load generator CPU |" in section
    plan = run.metadata.pinning.plan if run.metadata.pinning else {}
    for cell in run.cells:
        found = ceilings.binding(cell, plan, 2)
        assert found is not None
        shown = [f"{found.use[s]:.0%}" for s in (SERVER, SHARED)]
        assert f"| {found.resource.text()} | {' | '.join(shown)} |" in section, cell.variant


def test_pgbench_output_is_parsed_and_bad_output_refused() -> None:
    values = pgbench.parse(PGBENCH_OUTPUT)
    assert values == {
        "tps": 16596.662095,
        "latency_mean_ms": 0.301,
        "transactions": 49684.0,
        "failed": 0.0,
    }
    with pytest.raises(Exception, match="pgbench printed no result"):
        pgbench.parse("pgbench: error: connection refused")


@pytest.mark.slow
def test_real_database_and_http_ceilings(
    database: Database, built_variants: dict[str, Variant], oha: Path
) -> None:
    cpus, params, measure = pinning.auto(), default_params(), Measure(duration_s=1.0, warmup_s=0.5)
    db = probes.database_ceiling(database, cpus, params, measure)
    assert db.error is None, db.error
    assert db.values["tps"] > 100 and db.values["transactions"] >= db.values["tps"] * 0.5
    assert (
        "-M" in db.command
        and "prepared" in db.command
        and db.cpus["pgbench"] == pinning.fmt(cpus.of("server") or [])
    )
    http = probes.http_ceiling(built_variants["axum"], database, oha, cpus, params, measure)
    assert http.error is None, http.error
    assert http.values["rps"] > 100 and http.values["oha_threads"] >= 1
    assert http.command[-1].endswith("/users/static") and "--disable-keepalive" in http.command


@pytest.mark.slow
def test_a_load_generator_printing_a_partial_report_is_a_probe_error_not_a_crash(
    database: Database, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    """A program in oha's place prints JSON without the summary's total: the KeyError (not the
    harness's own error type) becomes the probe's error instead of ending the run."""
    fake = tmp_path / "oha"
    fake.write_text(
        '#!/bin/sh\necho \'{"summary": {}, "statusCodeDistribution": {}, '
        '"errorDistribution": {}}\'\n'
    )
    fake.chmod(0o755)
    cpus, params, measure = pinning.auto(), default_params(), Measure(duration_s=0.5)
    http = probes.http_ceiling(built_variants["axum"], database, fake, cpus, params, measure)
    assert http.error == "KeyError: 'total'", http.error
    assert not http.values
