"""The results model: generated schema in sync, v2 files valid, v1 files migrated, versions."""

import json
from pathlib import Path

import jsonschema
import pytest

from bench import REPO
from bench.errors import UsageError
from bench.model import store
from bench.model.results import SCHEMA_VERSION, CellSpec

DATA = Path(__file__).parent / "data"
V1_FILES = [
    DATA / "results-v1.json",
    *sorted((REPO / "reports" / "published").glob("*/results.json")),
]
V1_FILES = [p for p in V1_FILES if json.loads(p.read_text())["schema_version"] == 1]
V2 = DATA / "results-v2.json"


def test_committed_schema_is_generated_from_the_model() -> None:
    committed = store.SCHEMA_FILE.read_text()
    assert committed == store.schema_text(), "run: python -m bench.model --write-schema"
    jsonschema.Draft202012Validator.check_schema(json.loads(committed))


def test_a_real_v2_file_validates_and_round_trips() -> None:
    raw = json.loads(V2.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION == 2
    jsonschema.Draft202012Validator(json.loads(store.SCHEMA_FILE.read_text())).validate(raw)
    run = store.load(V2)
    assert store.dump(run) == V2.read_text()
    assert run.cells and run.plan.sweeps and run.plan.skips


def test_ids_and_labels_in_a_file_are_derived_not_read() -> None:
    raw = json.loads(V2.read_text())
    cell = raw["cells"][0]
    cell["params"]["concurrency"] += 1000
    run = store.parse(raw, "edited")
    assert run.cells[0].id != cell["id"]
    spec = {"variant": cell["variant"], "params": cell["params"], "id": "x", "label": "x"}
    assert run.cells[0].id == CellSpec.model_validate(spec).id


@pytest.mark.parametrize("path", V1_FILES, ids=lambda p: p.parent.name)
def test_v1_files_migrate(path: Path) -> None:
    raw = json.loads(path.read_text())
    run = store.load(path)
    assert run.schema_version == 2 and run.run_id == raw["run_id"]
    assert [c.variant for c in run.cells] == [c["variant"] for c in raw["cells"]]
    for cell, old in zip(run.cells, raw["cells"], strict=True):
        assert cell.params.concurrency == old["shape"]["concurrency"]
        assert cell.params.keepalive == old["shape"]["keepalive"]
        assert (cell.params.workers is None) == (cell.variant == "axum")
        assert [r.load.rps for r in cell.repeats] == [r["load"]["rps"] for r in old["repeats"]]
        assert cell.artifacts["server_log"] == f"logs/{cell.variant}.log"
    assert {c.id for c in run.cells} == set(run.plan.sweeps[0].cells)
    jsonschema.validate(json.loads(store.dump(run)), json.loads(store.SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("version", [0, 3, 99, "2", None])
def test_unknown_versions_are_refused_in_one_line(version: object, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**json.loads(V2.read_text()), "schema_version": version}))
    with pytest.raises(UsageError, match=f"schema_version {version!r}; this version reads 1, 2"):
        store.load(path)


def test_a_file_that_does_not_match_the_schema_is_refused(tmp_path: Path) -> None:
    raw = json.loads(V2.read_text())
    raw["cells"][0]["params"]["concurrency"] = "ten"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(UsageError, match="does not match results schema 2"):
        store.load(path)
    path.write_text("{not json")
    with pytest.raises(UsageError, match=r"not a results\.json"):
        store.load(path)
