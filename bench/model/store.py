"""Reading and writing results.json: the only code that touches the file."""

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.errors import UsageError
from bench.model import v1, v2, v3, v4
from bench.model.results import SCHEMA_VERSION, Run

SCHEMA_FILE = Path(__file__).with_name("results.schema.json")
MIGRATIONS = {
    1: v1.migrate,
    2: v2.migrate,
    3: v3.migrate,
    4: v4.migrate,
}  # schema_version -> the next version's data


def dump(run: Run) -> str:
    """The JSON text for `run`: schema_version first, keys in model order."""
    return run.model_dump_json(indent=2) + "\n"


def save(run: Run, path: Path) -> None:
    """Write atomically (temp file + rename) so an interrupt never leaves half a file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dump(run))
    os.replace(tmp, path)


def load(path: Path) -> Run:
    """Read a results.json of any known version; anything else is a one-line UsageError."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"no results file at {path}: pass a run folder or its results.json"
        ) from None
    except (ValueError, IsADirectoryError, UnicodeDecodeError):
        raise UsageError(f"{path} is not a results.json written by this tool") from None
    return parse(data, str(path))


def parse(data: Any, source: str) -> Run:
    """Validate (and migrate, from older versions) the decoded JSON of a results file; a file
    of a newer version than this reader knows is refused in one line naming both."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    whole = isinstance(version, int) and not isinstance(version, bool)  # True is not 1
    if isinstance(version, int) and whole and version > SCHEMA_VERSION:
        raise UsageError(
            f"{source} has results schema {version}, newer than this tool's {SCHEMA_VERSION}: "
            "read it with the version of the tool that wrote it (or a newer one)"
        )
    if not whole or (version != SCHEMA_VERSION and version not in MIGRATIONS):
        known = ", ".join(map(str, [*MIGRATIONS, SCHEMA_VERSION]))
        raise UsageError(
            f"{source} has schema_version {version!r}; this version reads {known}: "
            "is it a results.json written by this tool?"
        )
    try:
        while data["schema_version"] != SCHEMA_VERSION:
            data = MIGRATIONS[data["schema_version"]](data)
        return Run.model_validate(data)
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        detail = str(exc).splitlines()
        raise UsageError(
            f"{source} does not match results schema {version}: {' '.join(detail[:3])}"
        ) from None


def schema() -> dict[str, Any]:
    """The JSON Schema of results.json, generated from the model."""
    generated = Run.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "generated from bench/model/results.py: python -m bench.model --write-schema",
        **generated,
    }


def schema_text() -> str:
    """The schema as committed: indented JSON with a final newline."""
    return json.dumps(schema(), indent=2) + "\n"
