"""Flamegraphs: bad input is one line before anything is built; a short real flamegraph of
fastapi-async (py-spy under oha, pinned); a perf that cannot sample is one line in the report
and the run goes on; the report's section from a stored real run."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_once
from test_cli import ENV, REPORTS, assert_one_line_usage_error, bench, tree

from bench import REPO
from bench.load import flame
from bench.model import store
from bench.plan import pinning
from bench.render import report

DATA = Path(__file__).parent / "data" / "flame"

BAD_FLAMEGRAPH = [
    # (id, arguments, what the one line must say)
    ("variant", ["flamegraph", "nosuch"], "unknown variant 'nosuch'"),
    ("no-variant", ["flamegraph"], "the following arguments are required: variant"),
    ("two-cells", ["flamegraph", "axum", "--concurrency", "1,10"], "one value for --concurrency"),
    ("rate", ["flamegraph", "fastapi-async", "--sample-rate", "0"], "--sample-rate 0 is out"),
    ("duration", ["flamegraph", "fastapi-async", "--duration", "10x"], "not a duration"),
    ("profile", ["flamegraph", "fastapi-async", "--profile", "nope"], "unknown profile 'nope'"),
    ("pin", ["flamegraph", "axum", "--pin", "server=0", "--no-pin"], "contradict"),
    ("requests", ["flamegraph", "axum", "--requests", "9"], "unrecognized arguments"),
    ("soak", ["run", "--soak", "15s", "--variants", "axum", "--flamegraphs"], "--soak watches"),
    ("resume", ["run", "--resume", "reports/latest", "--flamegraphs"], "drop --flamegraphs"),
]


@pytest.mark.parametrize(
    ("args", "says"), [c[1:] for c in BAD_FLAMEGRAPH], ids=[c[0] for c in BAD_FLAMEGRAPH]
)
@pytest.mark.slow  # ten harness starts
def test_bad_flamegraph_input_is_one_line_before_anything_is_built(
    args: list[str], says: str
) -> None:
    before = tree(REPORTS)
    result = bench(*args)  # no --no-build: a check that came after the build would build
    line = assert_one_line_usage_error(result)
    assert says in line, line
    assert "building" not in result.stdout
    assert tree(REPORTS) == before, "a refused flamegraph changed reports/"


def test_nox_session_needs_a_variant() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "flamegraph", "--no-venv"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Usage: nox -s flamegraph -- VARIANT" in result.stderr


def flamegraph(out: Path, oha: Path, *args: str, code: int = 0, **env: str) -> str:
    """`python -m bench flamegraph ... --no-build --out OUT` with `env` added; its stdout,
    its exit code asserted."""
    cmd = [sys.executable, "-m", "bench", "flamegraph", *args, "--no-build", "--out", str(out)]
    result = subprocess.run(
        cmd, cwd=REPO, env={**ENV, "OHA": str(oha), **env},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == code, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_a_short_real_flamegraph_of_fastapi_async(oha: Path, tmp_path: Path) -> None:
    build_once("fastapi-async")
    out = tmp_path / "flame"
    said = flamegraph(out, oha, "fastapi-async", "--duration", "3s", "--warmup", "1s")
    assert f"flamegraph: {out / 'flamegraphs' / 'fastapi-async.svg'}" in said
    run = store.load(out / "results.json")
    assert not run.cells, "a flamegraph run measures nothing"
    (graph,) = run.flamegraphs
    assert graph.error is None
    assert (graph.profiler, graph.rate_hz, graph.duration_s) == ("py-spy", 100, 3.0)
    assert graph.command[:4] == [str(flame.py_spy()), "record", "-f", "raw"]
    # pinned as a measured cell: server alone; oha and the profiler off the server's CPU
    plan = pinning.auto()
    assert graph.cpus["server"] == pinning.fmt(plan.of("server") or [])
    assert graph.cpus["loadgen"] == graph.cpus["profiler"] == pinning.fmt(plan.of("loadgen") or [])
    assert (
        "-c" in graph.oha_command and graph.oha_command[graph.oha_command.index("-z") + 1] == "5s"
    )
    # about 100 samples a second of a busy server, its own frames among them
    folded = (out / graph.artifacts["folded"]).read_text()
    assert 100 <= graph.samples <= 3 * 100 * 1.2
    assert "fastapi" in folded and "asyncpg" in folded
    assert len(graph.top) == 10 and sum(f.share for f in graph.top) <= 1
    svg = (out / graph.artifacts["svg"]).read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "fastapi-async" in svg
    text = (out / "report.md").read_text()
    assert "## Where the time goes: flamegraphs" in text
    assert f"| 1 | `{graph.top[0].name}` | {graph.top[0].samples} |" in text.replace("\\|", "|")


@pytest.mark.slow
def test_run_with_flamegraphs_records_them_apart_from_the_measured_cells(
    oha: Path, tmp_path: Path
) -> None:
    build_once("fastapi-async")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench", "run", "--profile", "smoke", "--variants"]
    cmd += ["fastapi-async", "--flamegraphs", "--no-build", "--out", str(out)]
    result = subprocess.run(
        cmd, cwd=REPO, env={**ENV, "OHA": str(oha)}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = store.load(out / "results.json")
    (cell,) = run.cells  # measured as without --flamegraphs: one smoke repeat
    assert cell.ok and len(cell.repeats) == 1
    (graph,) = run.flamegraphs  # under the cell's load, by a server of its own
    assert graph.error is None and graph.params == cell.params
    assert graph.duration_s == run.plan.measure.duration_s == 2
    assert (out / graph.artifacts["svg"]).is_file() and graph.samples > 0
    assert graph.artifacts["server_log"] == "flamegraphs/fastapi-async.server.log"
    assert cell.artifacts["server_log"] != graph.artifacts["server_log"]
    text = (out / "report.md").read_text()
    assert text.index("## Sweep 1") < text.index("## Where the time goes: flamegraphs")


@pytest.mark.slow
def test_a_perf_that_cannot_sample_is_one_line_and_the_run_goes_on(
    oha: Path, tmp_path: Path
) -> None:
    out = tmp_path / "refused"
    said = flamegraph(out, oha, "axum", "--duration", "1s", code=1, PERF="/bin/false")
    line = "perf cannot sample here: exit code 1"
    assert f"no flamegraph of axum: {line}" in said
    (graph,) = store.load(out / "results.json").flamegraphs
    assert graph.error is not None and graph.error.startswith(line)
    assert "\n" not in graph.error and not graph.artifacts
    assert (
        f"No flamegraph (c=10 keepalive=off limit=100 pool=5 closed): {line}"
        in (out / "report.md").read_text()
    )


def test_the_report_gives_each_variants_top_frames_from_a_stored_real_run() -> None:
    run = store.load(DATA / "results.json")  # run --profile smoke --flamegraphs, two variants
    refused = run.flamegraphs[1].model_copy(
        update={"variant": "axum@baseline", "top": [], "artifacts": {}, "error": "perf refused"}
    )
    run.flamegraphs.append(refused)
    text = report.render(run)
    section = text.split("## Where the time goes: flamegraphs", 1)[1].split("\n## ", 1)[0]
    for graph in run.flamegraphs:
        assert f"### {graph.variant}" in section
        block = section.split(f"### {graph.variant}", 1)[1].split("\n### ", 1)[0]
        if graph.error:
            assert block.strip().endswith(f"No flamegraph ({graph.params.label()}): perf refused")
            continue
        rows = [ln for ln in block.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
        assert len(rows) == len(graph.top) == 10
        for rank, (row, frame) in enumerate(zip(rows, graph.top, strict=True), 1):
            assert row.startswith(f"| {rank} | `")
            assert row.endswith(f"| {frame.samples} | {frame.share:.1%} |")
        assert f"({graph.artifacts['svg']})" in block
