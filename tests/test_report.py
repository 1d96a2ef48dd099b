"""Report rendering from a stored results file, the results schema, and write_report.

Expected values are computed here from tests/data/results-v1.json, so the file can be replaced
by a real run's output without touching the tests.
"""

import dataclasses
import json
import re
import shlex
import shutil
import statistics
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bench import report, results
from bench.errors import UsageError
from bench.results import Run

DATA = Path(__file__).parent / "data" / "results-v1.json"
SCHEMA = Path(report.__file__).parent / "results.schema.json"
ROW_TITLES = [
    "throughput (rps)",
    "p50 (ms)",
    "p99 (ms)",
    "p99.9 (ms)",
    "peak memory (MiB)",
    "peak CPU (%)",
]
CHANGE = "change vs fastapi-sync"


@pytest.fixture
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text())
    return data


@pytest.fixture
def run() -> Run:
    return results.load(DATA)


def first_table(markdown: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Header and rows (title -> column -> text) of the first table after a Results heading."""
    section = markdown.split("\n## Results, ", 1)[1]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    lines = lines[: next(i for i, ln in enumerate(lines[2:], 2) if not ln) if "" in lines else None]
    cells = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    header, body = cells[0], cells[2 : 2 + len(ROW_TITLES)]
    return header, {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}


def ok_cells(raw: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [c for c in raw["cells"] if c["label"] == label and cell_ok(c)]


def cell_ok(cell: dict[str, Any]) -> bool:
    return (
        cell["error"] is None
        and bool(cell["repeats"])
        and not any(r["failure"] for r in cell["repeats"])
    )


PATHS = {
    "throughput (rps)": ("load", "rps"),
    "p50 (ms)": ("load", "latency_ms", "p50"),
    "p99 (ms)": ("load", "latency_ms", "p99"),
    "p99.9 (ms)": ("load", "latency_ms", "p99.9"),
    "peak memory (MiB)": ("usage", "server", "peak_rss_mib"),
    "peak CPU (%)": ("usage", "server", "cpu_peak_pct"),
}


def median_of(cell: dict[str, Any], row: str) -> float:
    """Median over the cell's repeats of the value a first-table row shows."""
    values = []
    for repeat in cell["repeats"]:
        value: Any = repeat
        for key in PATHS[row]:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def assert_shown(text: str, value: float) -> None:
    """`text` is `value` rounded to the number of decimals it shows."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-9, (text, value)


def with_baseline(run: Run) -> Run:
    """The run, with its first variant renamed fastapi-sync when the file has none."""
    if any(c.variant == "fastapi-sync" for c in run.cells):
        return run
    first = run.cells[0].variant
    cells = [
        dataclasses.replace(c, variant="fastapi-sync") if c.variant == first else c
        for c in run.cells
    ]
    return dataclasses.replace(run, cells=cells)


def test_first_table_has_the_published_layout(run: Run, raw: dict[str, Any]) -> None:
    header, rows = first_table(report.render(run, None))
    label = raw["cells"][0]["label"]
    variants = [c["variant"] for c in raw["cells"] if c["label"] == label]
    has_baseline = "fastapi-sync" in variants
    assert header == ["", *variants, *([CHANGE] if has_baseline else [])]
    assert list(rows) == ROW_TITLES


def test_first_table_shows_medians_computed_from_the_file(run: Run, raw: dict[str, Any]) -> None:
    _, rows = first_table(report.render(run, None))
    label = raw["cells"][0]["label"]
    assert ok_cells(raw, label), "the stored run needs at least one measured cell"
    for cell in ok_cells(raw, label):
        for title in ROW_TITLES:
            assert_shown(rows[title][cell["variant"]], median_of(cell, title))


def test_one_table_per_load_shape(run: Run, raw: dict[str, Any]) -> None:
    labels = dict.fromkeys(c["label"] for c in raw["cells"])
    markdown = report.render(run, None)
    assert [
        ln[len("## Results, ") :] for ln in markdown.splitlines() if ln.startswith("## Results, ")
    ] == list(labels)


def test_change_column_is_best_over_fastapi_sync(run: Run, raw: dict[str, Any]) -> None:
    run = with_baseline(run)
    _, rows = first_table(report.render(run, None))
    label = run.cells[0].label
    medians = {
        c.variant: {t: median_of(json.loads(results.dump(run))["cells"][i], t) for t in ROW_TITLES}
        for i, c in enumerate(run.cells)
        if c.label == label and c.ok
    }
    base = medians["fastapi-sync"]
    for title in ROW_TITLES:
        pick = max if title == "throughput (rps)" else min
        best = pick(medians, key=lambda v: medians[v][title])
        match = re.fullmatch(report.TIMES + r"([\d.]+) \((.+)\)", rows[title][CHANGE])
        assert match, rows[title][CHANGE]
        assert match.group(2) == best
        assert float(match.group(1)) == pytest.approx(medians[best][title] / base[title], rel=0.01)


def test_change_column_is_omitted_without_fastapi_sync(run: Run) -> None:
    cells = [
        dataclasses.replace(c, variant=c.variant.replace("fastapi-sync", "sync")) for c in run.cells
    ]
    header, _ = first_table(report.render(dataclasses.replace(run, cells=cells), None))
    assert CHANGE not in header


def test_failed_cell_shows_failed_and_its_reason(run: Run) -> None:
    broken = dataclasses.replace(run.cells[-1], error="server exited with code 1 during warmup")
    run = dataclasses.replace(run, cells=[*run.cells[:-1], broken])
    markdown = report.render(run, None)
    _, rows = first_table(markdown)
    assert all(rows[t][broken.variant] == "failed" for t in ROW_TITLES)
    assert f"`{broken.variant}` failed: server exited with code 1 during warmup" in markdown


def test_failed_cells_in_the_file_are_explained(run: Run, raw: dict[str, Any]) -> None:
    markdown = report.render(run, None)
    _, rows = first_table(markdown)
    label = raw["cells"][0]["label"]
    for cell in (c for c in raw["cells"] if c["label"] == label and not cell_ok(c)):
        assert rows["throughput (rps)"][cell["variant"]] == "failed"
        reasons = [cell["error"]] if cell["error"] else [r["failure"] for r in cell["repeats"]]
        assert all(r in markdown for r in reasons if r)


def test_unstable_cells_are_flagged(run: Run) -> None:
    cell = next(c for c in run.cells if c.ok)
    template = cell.repeats[0]
    repeats = [
        dataclasses.replace(template, index=i, load=dataclasses.replace(template.load, rps=rps))
        for i, rps in enumerate([100.0, 150.0, 200.0])
    ]
    noisy = dataclasses.replace(cell, repeats=repeats)
    cells = [noisy if c is cell else c for c in run.cells]
    stability = next(
        ln
        for ln in report.render(dataclasses.replace(run, cells=cells), None).splitlines()
        if ln.startswith("**Stability**")
    )
    assert f"{cell.variant} ({cell.label}) CV 33.3%" in stability


def test_machine_pinning_and_tools_come_from_metadata(run: Run, raw: dict[str, Any]) -> None:
    markdown = report.render(run, None)
    meta = raw["metadata"]
    expected = [
        meta.get("cpu", {}).get("model"),
        meta.get("git", {}).get("commit"),
        meta.get("tools", {}).get("oha"),
        meta.get("host", {}).get("kernel"),
        *meta.get("notes", []),
    ]
    for text in filter(None, expected):
        assert str(text) in markdown
    for cell in raw["cells"]:
        row = f"| {cell['variant']} | {cell['label']} | "
        assert any(
            ln.startswith(row) and all(f"| {v} |" in ln for v in cell["cpus"].values())
            for ln in markdown.splitlines()
        ), row


def test_variant_details(run: Run, raw: dict[str, Any]) -> None:
    markdown = report.render(run, None)
    for cell in raw["cells"]:
        assert shlex.join(cell["oha_command"]) in markdown
        assert f"#### {cell['variant']}, {cell['label']}" in markdown
    for info in raw["metadata"].get("variants", {}).values():
        assert info.get("summary", "") in markdown
        for package, version in info.get("packages", {}).items():
            assert f"| {package} | {version} |" in markdown
    assert markdown.count("<details>") == markdown.count("</details>")


def test_render_survives_missing_metadata(run: Run) -> None:
    markdown = report.render(dataclasses.replace(run, metadata={}), None)
    assert "## Machine and pinning" in markdown and "CPU: unknown" in markdown


def test_plots_are_linked_only_when_given(run: Run) -> None:
    assert "![" not in report.render(run, None)
    markdown = report.render(run, {"throughput": "throughput.png"})
    assert "![throughput](throughput.png)" in markdown


def test_load_refuses_an_unknown_schema_version(tmp_path: Path, raw: dict[str, Any]) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**raw, "schema_version": 2}))
    with pytest.raises(UsageError, match="schema_version 2"):
        results.load(path)


def test_stored_file_matches_the_json_schema(raw: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(raw)


@pytest.mark.parametrize(
    ("definition", "model"),
    [
        (None, results.Run),
        ("cell", results.Cell),
        ("shape", results.LoadShape),
        ("repeat", results.Repeat),
        ("load", results.LoadResult),
        ("usage", results.Usage),
    ],
)
def test_schema_keys_match_the_results_model(definition: str | None, model: type) -> None:
    schema = json.loads(SCHEMA.read_text())
    node = schema if definition is None else schema["$defs"][definition]
    names = {f.name for f in dataclasses.fields(model)}
    assert set(node["properties"]) == names, "update bench/results.schema.json with the model"
    assert set(node["required"]) == names


def test_schema_rejects_a_wrong_version(raw: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**raw, "schema_version": 2}, schema)


def test_load_then_dump_round_trips(run: Run) -> None:
    assert results.dump(run) == DATA.read_text()


def test_write_report_writes_markdown_and_plots(tmp_path: Path) -> None:
    shutil.copy(DATA, tmp_path / "results.json")
    path = report.write_report(tmp_path)
    assert path == tmp_path / "report.md"
    markdown = path.read_text()
    assert markdown.startswith("# Benchmark run ")
    for name in ("throughput.png", "latency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in markdown
