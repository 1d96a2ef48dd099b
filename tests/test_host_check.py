"""The host check as a cell setting: on by default, off in seed-exact (the published apps had
none), carried from the plan to each server's environment and read back from its /health."""

import http.client
import json
from pathlib import Path

import pytest
from test_cli import assert_one_line_usage_error, bench
from test_matrix import VARIANTS, plan

from bench import REPO
from bench.errors import BenchError, UsageError
from bench.model import store
from bench.plan import profiles
from bench.plan.matrix import MATRIX, Variant
from bench.render import report
from bench.run.runner import read_back
from bench.sut.database import Database
from bench.sut.variants import running, server_env
from bench.sut.verify import verify

FOREIGN = "attacker.example"  # a name of another site, as a DNS-rebinding page would send


def get(url: str, host: str, path: str = "/users?limit=2") -> tuple[int, bytes]:
    """GET `path` from the server at `url` with the Host header `host`: status and body."""
    address = url.removeprefix("http://")
    conn = http.client.HTTPConnection(address, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_seed_exact_leaves_the_check_out_and_the_default_keeps_it() -> None:
    seed, default = plan("seed-exact"), plan("default", open_loop="profile")
    assert [c.params.host_check for c in seed.cells] == [False, False, False]
    assert all("host_check=off" in c.label for c in seed.cells)
    assert all(server_env(VARIANTS[c.variant], c.params)["HOST_CHECK"] == "off" for c in seed.cells)
    assert {c.params.host_check for c in default.cells} == {True}
    assert all("host_check" not in c.label for c in default.cells)
    assert {server_env(VARIANTS[c.variant], c.params)["HOST_CHECK"] for c in default.cells} == {
        "on"
    }
    assert {"host_check": [False]}.items() <= seed.sweeps[0].axes.items()
    assert "host_check" not in default.sweeps[0].axes  # on, the default: not said


def test_cells_with_the_check_keep_the_ids_of_the_runs_before_it() -> None:
    """The committed reference run (98471b2, before the setting) planned the same cells."""
    reference = store.load(REPO / "reports" / "published" / "default" / "results.json")
    now = plan("default", open_loop="profile")
    assert [c.id for c in now.cells] == [c.id for c in reference.plan.cells]
    assert reference.plan.plan_id == now.model_copy(update={"reference": None}).plan_id
    assert "host_check" not in store.dump(reference)


def test_the_axis_takes_on_and_off_and_refuses_anything_else() -> None:
    both = plan("seed-exact", host_check="on,off")
    assert [(c.variant, c.params.host_check) for c in both.cells] == [
        (v, check)
        for check in (True, False)
        for v in ("fastapi-sync-psycopg2", "fastapi-async", "axum")
    ]
    assert len({c.id for c in both.cells}) == 6
    with pytest.raises(UsageError, match="--host-check 'maybe' is not on or off"):
        profiles.parse_axis("host_check", "maybe")
    with pytest.raises(UsageError, match="host_check 'off' is not on or off"):
        profiles.check_axis("host_check", ["off"])  # matrix.toml says true or false


def test_a_matrix_file_with_a_bad_host_check_is_one_line(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.toml"
    text = MATRIX.read_text()
    assert "host_check = [false]" in text
    matrix.write_text(text.replace("host_check = [false]", 'host_check = ["maybe"]'))
    result = bench("--matrix", str(matrix), "run", "--profile", "seed-exact", "--dry-run")
    line = assert_one_line_usage_error(result)
    assert "host_check 'maybe' is not on or off (true or false in matrix.toml)" in line, line


@pytest.mark.slow
def test_without_the_check_a_foreign_host_is_answered_and_with_it_refused(
    variant: Variant, database: Database
) -> None:
    """Each variant served twice, as the seed-exact cell (check off) and with the check on:
    the answer to a foreign Host, /health's read-back, and read_back() holding the cell to it."""
    off = plan("seed-exact", variants=variant.name).cells[0]
    on = off.params.model_copy(update={"host_check": True})
    assert off.params.host_check is False
    with running(variant, database, params=off.params) as server:
        assert verify(variant.name, server.url, database) == 10
        status, body = get(server.url, FOREIGN)
        info = read_back(server, off.params)
        with pytest.raises(BenchError) as claimed:
            read_back(server, on)
    assert status == 200 and len(json.loads(body)) == 2
    assert info.reported["host_check"] is False and info.declared["host_check"] is False
    assert f"{variant.name} runs host_check False (declared True)" in str(claimed.value)
    with running(variant, database, params=on) as server:
        refused, _ = get(server.url, FOREIGN)
        named, _ = get(server.url, f"127.0.0.1:{server.port}")
        assert read_back(server, on).reported["host_check"] is True
    assert (refused, named) == (400, 200)


def test_the_report_says_what_each_server_read_back() -> None:
    """What ran: the host check each server's /health reported ("-": a server that said
    nothing, as every one before the setting)."""
    run = store.load(REPO / "tests" / "data" / "results-v2.json")
    first, second = run.cells[:2]
    assert first.server and second.server
    first.server.reported = {**first.server.reported, "host_check": False}
    rows = [ln for ln in report.render(run).splitlines() if ln.startswith("| ")]
    header = next(ln for ln in rows if "DB connections (max)" in ln)
    assert header.rstrip().endswith("| host check |")
    ran = [ln for ln in rows if ln.startswith(f"| {first.variant} | {first.label} |")]
    assert ran and ran[0].rstrip().endswith("| off |")
    other = [ln for ln in rows if ln.startswith(f"| {second.variant} | {second.label} |")]
    assert other and other[0].rstrip().endswith("| - |")
