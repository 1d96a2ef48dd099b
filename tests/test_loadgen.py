"""oha: its JSON parsed from captured real outputs, and the failure rule against a real server."""

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bench.errors import BenchError, UsageError
from bench.load import cargo
from bench.load import oha as loadgen
from bench.model.plan import Measure, Params
from bench.model.results import OpenLoop
from bench.plan.matrix import Variant
from bench.sut.database import Database
from bench.sut.variants import running

DATA = Path(__file__).parent / "data"


def test_parse_counts_only_2xx_from_a_real_report() -> None:
    text = (DATA / "oha-ok.json").read_text()
    raw = json.loads(text)
    result = loadgen.parse(text)
    assert result.ok == raw["statusCodeDistribution"]["200"]
    assert result.non_2xx == 0 and result.errors == 0
    assert result.rps == pytest.approx(result.ok / raw["summary"]["total"])
    assert result.latency_ms["p99.9"] == pytest.approx(raw["latencyPercentiles"]["p99.9"] * 1000)
    assert loadgen.judge(result) is None


def test_refused_connections_are_errors_not_throughput() -> None:
    text = (DATA / "oha-refused.json").read_text()
    raw = json.loads(text)
    result = loadgen.parse(text)
    assert raw["summary"]["requestsPerSec"] > 0  # oha's own figure counts the errors
    assert result.ok == 0 and result.rps == 0
    assert result.errors == sum(raw["errorDistribution"].values()) > 0
    assert "errors" in (loadgen.judge(result) or "")


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="not its JSON report"):
        loadgen.parse("Error: connection refused")


def params(concurrency: int, keepalive: bool, limit: int = 100) -> Params:
    return Params(
        runtime=None, workers=None, pool=5, concurrency=concurrency, keepalive=keepalive,
        limit=limit, mode="closed",
    )  # fmt: skip


OHA = ["/x/oha", "--no-tui", "--output-format", "json"]


def test_command_line_follows_the_cell() -> None:
    oha, base = Path("/x/oha"), loadgen.Invocation("http://h/users", params(5, True), Measure())
    timed = replace(base, params=params(10, False), measure=Measure(duration_s=2))
    assert loadgen.command(oha, timed) == [
        *OHA, "-c", "10", "-z", "2s", "-w", "--disable-keepalive", "http://h/users"
    ]  # fmt: skip
    counted = replace(base, measure=Measure(requests=50000))
    assert loadgen.command(oha, counted) == [*OHA, "-c", "5", "-n", "50000", "http://h/users"]
    warmup = counted.warmup(1.5)
    assert loadgen.command(oha, warmup) == [*OHA, "-c", "5", "-z", "1.5s", "-w", "http://h/users"]
    with pytest.raises(UsageError, match="needs a duration or a request count"):
        loadgen.command(oha, base)


def test_an_open_loop_offers_its_rate_over_its_connections_and_records() -> None:
    rate = OpenLoop(
        closed_cell="c", closed_rps=200, offered_rps=123.456, connections=40, latency_basis_ms=5
    )
    run = loadgen.Invocation(
        "http://h/users?limit=7", params(10, True, limit=7), Measure(duration_s=10),
        open_loop=rate, record=Path("/r/requests.db"),
    )  # fmt: skip
    open_loop = ["-c", "40", "-q", "123.5", "--latency-correction"]
    assert loadgen.command(Path("/x/oha"), run) == [
        *OHA, *open_loop, "-z", "10s", "-w", "--db-url", "/r/requests.db", "http://h/users?limit=7"
    ]  # fmt: skip
    assert loadgen.command(Path("/x/oha"), run.warmup(2)) == [
        *OHA, *open_loop, "-z", "2s", "-w", "http://h/users?limit=7"
    ]  # fmt: skip


def test_the_published_endpoint_has_no_query_and_other_limits_do() -> None:
    assert loadgen.url("http://h", params(10, False)) == "http://h/users"
    assert loadgen.url("http://h", params(10, False, limit=7)) == "http://h/users?limit=7"


@pytest.mark.slow
@pytest.mark.parametrize("path, failed", [("/users?limit=0", True), ("/users", False)])
def test_failure_rule_on_real_non_2xx(
    path: str, failed: bool, oha: Path, built_variants: dict[str, Variant], database: Database
) -> None:
    with running(built_variants["fastapi-tuned"], database) as server:
        run = loadgen.Invocation(server.url + path, params(2, True), Measure(requests=200))
        cmd = loadgen.command(oha, run)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    result = loadgen.parse(out)
    assert result.ok + result.non_2xx + result.errors == 200
    assert (loadgen.judge(result) is not None) == failed
    if failed:
        assert result.status_codes == {"422": 200} and result.rps == 0


@pytest.mark.slow
def test_the_installed_oha_is_recent_and_other_programs_are_not(oha: Path) -> None:
    assert loadgen.version(oha) == f"oha {loadgen.OHA_VERSION}"
    assert loadgen.recent(oha)
    assert not loadgen.recent(Path("/bin/true"))  # prints a coreutils version, not oha's


@pytest.mark.slow  # asks crates.io
def test_a_tool_cargo_cannot_install_is_one_error_with_cargos_last_words(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"cargo install no-such-crate-pybench 0\.0\.1 failed: "):
        cargo.install("no-such-crate-pybench", "0.0.1", tmp_path)
    assert not (tmp_path / "bin").exists()
