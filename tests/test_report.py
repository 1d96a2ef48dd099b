"""Report rendering from stored real results files (v1, migrated, and v2), and write_report.

Expected values are computed here from the stored files, so they can be replaced by a real
run's output without touching the tests.
"""

import json
import re
import shlex
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest
from scipy import stats as scipy_stats

from bench import REPO
from bench.errors import UsageError
from bench.model import store
from bench.model.results import Cell, Run
from bench.plan import matrix, profiles
from bench.render import report, summary
from bench.render.markdown import TIMES

DATA = Path(__file__).parent / "data"
ROW_TITLES = [r.title for r in summary.ROWS]
CHANGE = "change vs fastapi-sync"


@pytest.fixture
def v1() -> Run:
    """A real default-profile run (one sweep, one shape), migrated from schema 1."""
    return store.load(DATA / "results-v1.json")


@pytest.fixture
def v2() -> Run:
    """A real run of three sweeps over concurrency, payload and workers, with a skip."""
    return store.load(DATA / "results-v2.json")


def tables(markdown: str, heading: str) -> list[list[list[str]]]:
    """Every table in the section that starts with `heading`, as rows of cells."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    found: list[list[list[str]]] = []
    previous = ""
    for line in section.splitlines():
        if line.startswith("| "):
            row = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not previous.startswith("| "):
                found.append([])
            if not set(row) <= {"---"}:
                found[-1].append(row)
        previous = line
    return found


def median_of(cell: Cell, title: str) -> float:
    """Median over the cell's repeats of the value a main-table row shows."""
    row = next(r for r in summary.ROWS if r.title == title)
    return statistics.median(v for v in map(row.measure, cell.repeats) if v is not None)


def assert_shown(text: str, value: float) -> None:
    """`text` is `value` rounded to the number of decimals it shows."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-9, (text, value)


def main_table(run: Run) -> dict[str, dict[str, str]]:
    (rows,) = tables(report.render(run), "## Sweep 1: ")
    header = rows[0]
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows[1:]}


def renamed(run: Run, old: str, new: str) -> Run:
    """`run` with variant `old` called `new` everywhere."""
    cells = [c.model_copy(update={"variant": new}) if c.variant == old else c for c in run.cells]
    specs = [
        c.model_copy(update={"variant": new}) if c.variant == old else c for c in run.plan.cells
    ]
    sweeps = [s.model_copy(update={"cells": [c.id for c in specs]}) for s in run.plan.sweeps]
    plan = run.plan.model_copy(update={"cells": specs, "sweeps": sweeps})
    return run.model_copy(update={"cells": cells, "plan": plan})


SPREAD = ["throughput 95% interval", "throughput CV"]


def test_single_shape_sweep_has_the_published_layout(v1: Run) -> None:
    rows = main_table(v1)  # an old run: no CPU seconds, so of the costs only rps per MiB
    assert list(rows) == [ROW_TITLES[0], *SPREAD, *ROW_TITLES[1:], "rps per MiB of server memory"]
    variants = [c.variant for c in v1.cells]
    assert list(rows[ROW_TITLES[0]]) == [*variants, CHANGE]
    for cell in (c for c in v1.cells if c.ok):
        for title in ROW_TITLES:
            assert_shown(rows[title][cell.variant], median_of(cell, title))
        rps = [r.load.rps for r in cell.repeats]
        mean, sd = statistics.fmean(rps), statistics.stdev(rps)
        half = scipy_stats.t.ppf(0.975, len(rps) - 1) * sd / len(rps) ** 0.5
        low, high = rows[SPREAD[0]][cell.variant].strip("[]").split(", ")
        assert_shown(low, mean - half)
        assert_shown(high, mean + half)
        assert rows[SPREAD[1]][cell.variant] == f"{sd / mean:.1%}"


def test_change_column_is_best_over_fastapi_sync(v1: Run) -> None:
    rows = main_table(v1)
    medians = {c.variant: {t: median_of(c, t) for t in ROW_TITLES} for c in v1.cells if c.ok}
    base = medians["fastapi-sync"]
    for title in ROW_TITLES:
        pick = max if title == "throughput (rps)" else min
        best = pick(medians, key=lambda v: medians[v][title])
        match = re.fullmatch(summary.TIMES + r"([\d.]+) \((.+)\)", rows[title][CHANGE])
        assert match, rows[title][CHANGE]
        assert match.group(2) == best
        assert float(match.group(1)) == pytest.approx(medians[best][title] / base[title], rel=0.01)


def test_change_column_is_omitted_without_fastapi_sync(v1: Run) -> None:
    rows = main_table(renamed(v1, "fastapi-sync", "sync"))
    assert CHANGE not in rows[ROW_TITLES[0]]


def test_failed_cell_shows_failed_and_its_reason(v1: Run) -> None:
    broken = v1.cells[-1].model_copy(update={"error": "server exited with code 1 during warmup"})
    run = v1.model_copy(update={"cells": [*v1.cells[:-1], broken]})
    markdown = report.render(run)
    rows = main_table(run)
    assert all(rows[t][broken.variant] == "failed" for t in ROW_TITLES)
    assert f"`{broken.variant}` ({broken.label}) failed: server exited with code 1" in markdown


def test_each_sweep_of_several_shapes_has_a_table_per_measure(v2: Run) -> None:
    markdown = report.render(v2)
    for number, sweep in enumerate(v2.plan.sweeps, 1):
        varying = [a for a, values in sweep.axes.items() if len(values) > 1]
        throughput, p99 = tables(markdown, f"## Sweep {number}: {sweep.name}")
        cells = {c.id: c for c in v2.cells if c.id in sweep.cells}
        variants = list(dict.fromkeys(c.variant for c in cells.values()))
        assert throughput[0] == ["", *variants] == p99[0]
        shown = {
            (row[0], v): text
            for row in throughput[1:]
            for v, text in zip(variants, row[1:], strict=True)
        }
        for cell in cells.values():
            key = " ".join(
                f"{'c' if a == 'concurrency' else a}={_shown(cell, a, sweep.axes[a][0])}"
                for a in varying
            )
            assert_shown(shown[(key, cell.variant)], median_of(cell, "throughput (rps)"))
        assert len(throughput) - 1 == len({k for k, _ in shown}), "one row per shape"


def _shown(cell: Cell, axis: str, first: Any) -> str:
    value = getattr(cell.params, axis)
    value = first if value is None else value
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def test_skips_are_listed_with_their_reasons(v2: Run) -> None:
    markdown = report.render(v2)
    assert v2.plan.skips
    for skip in v2.plan.skips:
        assert f"- {skip.variant} at {skip.text()}: {skip.reason}" in markdown


def test_missing_cells_of_a_merge_are_named(v2: Run) -> None:
    lost = v2.plan.cells[0]
    run = v2.model_copy(update={"missing": [lost.id]})
    assert f"- {lost.variant}, {lost.label} (`{lost.id}`)" in report.render(run)


def test_unstable_cells_are_flagged(v2: Run) -> None:
    cell = next(c for c in v2.cells if c.ok)
    template = cell.repeats[0]
    repeats = [
        template.model_copy(
            update={"index": i, "load": template.load.model_copy(update={"rps": rps})}
        )
        for i, rps in enumerate([100.0, 150.0, 200.0])
    ]
    cells = [cell.model_copy(update={"repeats": repeats}) if c is cell else c for c in v2.cells]
    markdown = report.render(v2.model_copy(update={"cells": cells}))
    stability = next(ln for ln in markdown.splitlines() if ln.startswith("**Stability**"))
    assert f"{cell.variant} ({cell.label}) CV 33.3%" in stability


def test_machine_pinning_and_tools_come_from_metadata(v2: Run) -> None:
    markdown = report.render(v2)
    meta = v2.metadata
    expected = [meta.cpu.model, meta.git.commit, meta.tools.get("oha"), *meta.notes]
    expected += [meta.host.kernel, v2.plan.plan_id]
    for text in filter(None, expected):
        assert str(text) in markdown
    for cell in v2.cells:
        row = f"| {cell.variant} | {cell.label} | "
        assert any(
            ln.startswith(row) and all(f"| {v} |" in ln for v in cell.cpus.values())
            for ln in markdown.splitlines()
        ), row


def test_cell_details_show_what_ran(v2: Run) -> None:
    markdown = report.render(v2)
    for cell in v2.cells:
        assert shlex.join(cell.oha_command) in markdown
        assert f"#### {cell.variant}, {cell.label}" in markdown
        assert cell.server and shlex.join(cell.server.command) in markdown
        assert f"at most {cell.server.database_connections} database connections" in markdown
        assert f"[server_log]({cell.artifacts['server_log']})" in markdown
    for info in v2.metadata.variants.values():
        assert info.summary in markdown
        for package, version in info.packages.items():
            assert f"| {package} | {version} |" in markdown
    assert markdown.count("<details>") == markdown.count("</details>")


def test_render_survives_missing_metadata(v2: Run) -> None:
    bare = type(v2.metadata)()
    markdown = report.render(v2.model_copy(update={"metadata": bare}))
    assert "## Machine and pinning" in markdown and "CPU: unknown" in markdown


def test_plots_are_linked_only_when_given(v2: Run) -> None:
    assert "![" not in report.render(v2)
    markdown = report.render(v2, {"Throughput per cell": "throughput.svg"})
    assert "![Throughput per cell](throughput.svg)" in markdown


@pytest.mark.parametrize(
    "name", ["results-v1.json", pytest.param("results-v2.json", marks=pytest.mark.slow)]
)
def test_write_report_writes_markdown_and_plots(name: str, tmp_path: Path) -> None:
    shutil.copy(DATA / name, tmp_path / "results.json")
    path = report.write_report(tmp_path)
    assert path == tmp_path / "report.md"
    markdown = path.read_text()
    assert markdown.startswith("# Benchmark run ")
    for image in ("throughput.svg", "latency.svg", "memory.svg"):
        assert (tmp_path / image).read_text().rstrip().endswith("</svg>")
        assert f"]({image})" in markdown


def test_an_unstable_cell_is_flagged_with_a_hint(v1: Run) -> None:
    cell = next(c for c in v1.cells if c.ok and len(c.repeats) >= 3)
    first = cell.repeats[0]
    cell.repeats[0] = first.model_copy(
        update={"load": first.load.model_copy(update={"rps": first.load.rps * 1.5})}
    )
    text = report.render(v1)
    assert f"**unstable**, throughput CV above 5%: {cell.variant} ({cell.label}) CV" in text
    assert "Hint:" in text and "--repeats 5" in text


def test_what_a_request_costs_is_worked_out_from_the_stored_seconds() -> None:
    """A default run's stored CPU seconds (7773a97, 2026-12-02), divided by hand: each role's
    (user + system) over the repeat's answered requests, median over repeats; the database's
    against its seconds per pgbench transaction in the run's database ceiling."""
    data = json.loads((DATA / "results-v2-cost.json").read_text())
    rows = main_table(store.load(DATA / "results-v2-cost.json"))
    (ceiling,) = [p["values"] for p in data["probes"] if p["name"] == "database"]
    per_query = 1000 * ceiling["database_cpu_s"] / ceiling["transactions"]
    titles = {"server": "server", "database": "database", "loadgen": "oha"}
    closed = [c for c in data["cells"] if c["params"]["mode"] == "closed"]
    assert len(closed) == 5
    for cell in closed:
        shown = {}
        for role, name in titles.items():
            per_repeat = [
                1000
                * (r["usage"][role]["cpu_user_s"] + r["usage"][role]["cpu_system_s"])
                / (r["load"]["ok"] + r["load"]["non_2xx"])
                for r in cell["repeats"]
            ]
            shown[role] = statistics.median(per_repeat)
            assert_shown(rows[f"{name} CPU per request (ms)"][cell["variant"]], shown[role])
        ratio = rows["database CPU per request ÷ per pgbench query"][cell["variant"]]
        assert_shown(ratio.removeprefix(TIMES), shown["database"] / per_query)
        per_mib = statistics.median(
            r["load"]["rps"] / r["usage"]["server"]["peak_rss_mib"] for r in cell["repeats"]
        )
        assert_shown(rows["rps per MiB of server memory"][cell["variant"]], per_mib)
    server = rows["server CPU per request (ms)"]
    assert float(server["axum"]) < float(server["fastapi-tuned"]) < float(server["fastapi-sync"])


def test_the_reference_variant_comes_from_the_plan_then_the_matrix_file(
    v1: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render code names no variant: the run's plan says which one the others are
    compared with (recorded from matrix.toml), else the matrix file in use does."""
    assert v1.plan.reference is None  # an old run: the matrix file's, fastapi-sync
    assert CHANGE in main_table(v1)[ROW_TITLES[0]]
    chosen = v1.model_copy(update={"plan": v1.plan.model_copy(update={"reference": "axum"})})
    rows = main_table(chosen)
    assert rows[ROW_TITLES[0]]["change vs axum"].endswith("(axum)")
    assert CHANGE not in rows[ROW_TITLES[0]]
    text = (REPO / "bench" / "plan" / "matrix.toml").read_text()
    declared = re.compile(r'^reference = "fastapi-sync"$', re.M)
    assert declared.search(text), "matrix.toml declares its reference variant"
    for line, shows in [('reference = "fastapi-async"', "change vs fastapi-async"), ("", None)]:
        path = tmp_path / f"matrix-{len(line)}.toml"
        path.write_text(declared.sub(line, text))
        monkeypatch.setenv(matrix.MATRIX_ENV, str(path))
        assert matrix.reference() == (shows and "fastapi-async")
        header = main_table(v1)[ROW_TITLES[0]]
        assert (shows in header) if shows else not any(k.startswith("change") for k in header)


def test_a_reference_that_is_no_variant_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "matrix.toml"
    text = (REPO / "bench" / "plan" / "matrix.toml").read_text()
    path.write_text(text.replace('reference = "fastapi-sync"', 'reference = "fastapi-synk"'))
    monkeypatch.setenv(matrix.MATRIX_ENV, str(path))
    with pytest.raises(UsageError, match=r"reference = 'fastapi-synk' in .* is not a variant"):
        matrix.reference()


def test_a_new_plan_records_the_reference_of_its_matrix_file() -> None:
    plan = profiles.build("smoke", matrix.select(None), profiles.measure("smoke"), {}, None)
    assert plan.reference == "fastapi-sync"
    assert plan.plan_id == plan.model_copy(update={"reference": None}).plan_id
