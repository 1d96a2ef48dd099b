"""The results model: generated schema in sync, v2 files migrated and valid, v1 files migrated,
the format history in step with the version, newer files refused in one line."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

from bench import REPO
from bench.errors import UsageError
from bench.model import results, store
from bench.model.plan import CellSpec
from bench.model.results import SCHEMA_VERSION

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


V2_FILES = [*sorted(DATA.glob("results-v2*.json")), DATA / "flame" / "results.json"]


@pytest.mark.parametrize("path", V2_FILES, ids=lambda p: p.stem)
def test_a_real_v2_file_migrates_validates_and_round_trips(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 2 and SCHEMA_VERSION == 5
    run = store.load(path)
    text = store.dump(run)
    jsonschema.Draft202012Validator(json.loads(store.SCHEMA_FILE.read_text())).validate(
        json.loads(text)
    )
    assert store.dump(store.parse(json.loads(text), "again")) == text
    assert run.metadata.db_provider == raw["metadata"]["tools"]["db_provider"] == "embedded"
    assert "db_provider" not in run.metadata.tools
    assert [c.cpus for c in run.cells] == [c["cpus"] for c in raw["cells"]]  # all CPU lists


def test_a_v2_file_of_an_external_server_loses_only_the_word_in_its_cpus() -> None:
    raw = json.loads((DATA / "results-v2-ceilings.json").read_text())
    raw["metadata"]["tools"]["db_provider"] = "external"
    for cell in raw["cells"]:
        cell["cpus"]["database"] = "external"
    raw["probes"][0]["cpus"] = {"pgbench": "1", "database": "any"}
    run = store.parse(raw, "external v2")
    assert run.metadata.db_provider == "external"
    assert all("database" not in c.cpus and c.cpus["server"] for c in run.cells)
    assert run.probes[0].cpus == {"pgbench": "1"}


@pytest.mark.parametrize("word", ["external", "any", "", "0-"])
def test_a_cpus_field_holds_cpus_or_nothing(word: str) -> None:
    raw = json.loads(store.dump(store.load(V2)))
    raw["cells"][0]["cpus"]["database"] = word
    with pytest.raises(UsageError, match=f"does not match results schema {SCHEMA_VERSION}"):
        store.parse(raw, "edited")


def test_the_format_history_ends_at_this_version() -> None:
    """Every version has its line in results.py's docstring, the last one this version."""
    history = re.findall(r"^  (\d+) \((\d{4}-\d{2}[-\d]*)\):", results.__doc__ or "", re.M)
    assert [int(v) for v, _ in history] == list(range(1, SCHEMA_VERSION + 1))
    assert sorted(store.MIGRATIONS) == list(range(1, SCHEMA_VERSION))


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
    assert run.schema_version == SCHEMA_VERSION and run.run_id == raw["run_id"]
    assert [c.variant for c in run.cells] == [c["variant"] for c in raw["cells"]]
    for cell, old in zip(run.cells, raw["cells"], strict=True):
        assert cell.params.concurrency == old["shape"]["concurrency"]
        assert cell.params.keepalive == old["shape"]["keepalive"]
        assert (cell.params.workers is None) == (cell.variant == "axum")
        assert [r.load.rps for r in cell.repeats] == [r["load"]["rps"] for r in old["repeats"]]
        assert cell.artifacts["server_log"] == f"logs/{cell.variant}.log"
    assert {c.id for c in run.cells} == set(run.plan.sweeps[0].cells)
    jsonschema.validate(json.loads(store.dump(run)), json.loads(store.SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("version", [0, "2", None, True])
def test_unknown_versions_are_refused_in_one_line(version: object, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**json.loads(V2.read_text()), "schema_version": version}))
    with pytest.raises(
        UsageError, match=f"schema_version {version!r}; this version reads 1, 2, 3, 4, 5"
    ):
        store.load(path)


@pytest.mark.parametrize("version", [6, 99])
def test_a_newer_file_is_refused_naming_both_versions(version: int, tmp_path: Path) -> None:
    """Not a validation error about a field it does not know: the versions, in one line."""
    raw = json.loads(store.dump(store.load(V2))) | {"schema_version": version}
    raw["cells"][0]["counted"] = {"instructions": 123}  # what a newer version might add
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(UsageError) as err:
        store.load(path)
    message = str(err.value)
    assert f"results schema {version}, newer than this tool's {SCHEMA_VERSION}" in message
    assert "\n" not in message and "counted" not in message


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
