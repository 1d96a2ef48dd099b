"""oha: its JSON parsed from captured real outputs, and the failure rule against a real server."""

import json
import subprocess
from pathlib import Path

import pytest

from bench.load import oha as loadgen
from bench.model.results import Measure, Params
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


def test_command_line_follows_the_cell() -> None:
    oha = Path("/x/oha")
    timed = loadgen.command(
        oha, "http://127.0.0.1:1/users", params(10, False), Measure(duration_s=2)
    )
    assert timed[-1] == "http://127.0.0.1:1/users"
    assert timed[timed.index("-c") : timed.index("-c") + 2] == ["-c", "10"]
    assert "-w" in timed and "--disable-keepalive" in timed and "2s" in timed
    counted = loadgen.command(oha, "http://h/users", params(5, True), Measure(requests=50000))
    assert "-n" in counted and "50000" in counted and "--disable-keepalive" not in counted
    assert "-z" not in counted
    warmup = loadgen.command(oha, "http://h/users", params(5, True), Measure(requests=9), 1.5)
    assert "-z" in warmup and "1.5s" in warmup and "-n" not in warmup


def test_the_published_endpoint_has_no_query_and_other_limits_do() -> None:
    assert loadgen.url("http://h", params(10, False)) == "http://h/users"
    assert loadgen.url("http://h", params(10, False, limit=7)) == "http://h/users?limit=7"


@pytest.mark.parametrize("path, failed", [("/users?limit=0", True), ("/users", False)])
def test_failure_rule_on_real_non_2xx(
    path: str, failed: bool, oha: Path, built_variants: dict[str, Variant], database: Database
) -> None:
    with running(built_variants["fastapi-tuned"], database) as server:
        cmd = loadgen.command(oha, server.url + path, params(2, True), Measure(requests=200))
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    result = loadgen.parse(out)
    assert result.ok + result.non_2xx + result.errors == 200
    assert (loadgen.judge(result) is not None) == failed
    if failed:
        assert result.status_codes == {"422": 200} and result.rps == 0


def test_the_installed_oha_is_recent_and_other_programs_are_not(oha: Path) -> None:
    assert loadgen.version(oha) == f"oha {loadgen.OHA_VERSION}"
    assert loadgen.recent(oha)
    assert not loadgen.recent(Path("/bin/true"))  # prints a coreutils version, not oha's
