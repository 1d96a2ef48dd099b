"""Migration of schema_version 1 files (cells identified by a label) to version 2.

In version 1 every Python variant ran one uvicorn worker with a pool of 5, fastapi-tuned on
uvloop + httptools and the others on asyncio + h11, every cell at limit 100 in a closed loop.
"""

from typing import Any

from bench.model.plan import CellSpec

V1_RUNTIMES = {"fastapi-tuned": "uvicorn-standard", "axum": None}  # others: "uvicorn"


def _params(variant: str, shape: dict[str, Any]) -> dict[str, Any]:
    python = variant != "axum"
    return {
        "runtime": V1_RUNTIMES.get(variant, "uvicorn"),
        "workers": 1 if python else None,
        "pool": 5,
        "concurrency": shape["concurrency"],
        "keepalive": shape["keepalive"],
        "limit": 100,
        "mode": "closed",
    }


def _cell(cell: dict[str, Any]) -> dict[str, Any]:
    variant = cell["variant"]
    return {
        "variant": variant,
        "params": _params(variant, cell["shape"]),
        "oha_command": cell["oha_command"],
        "cpus": cell["cpus"],
        "repeats": cell["repeats"],
        "artifacts": {"server_log": f"logs/{variant}.log"},
        "error": cell.get("error"),
    }


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """The version 2 form of a version 1 document (a plan of one sweep over its cells)."""
    cells = [_cell(c) for c in data["cells"]]
    shape = data["cells"][0]["shape"] if data["cells"] else {}
    measure = {k: shape[k] for k in ("duration_s", "requests", "warmup_s", "repeats") if k in shape}
    axes: dict[str, list[Any]] = {"runtime": ["auto"], "workers": [1], "pool": [5]}
    for axis in ("concurrency", "keepalive"):
        axes[axis] = list(dict.fromkeys(c["params"][axis] for c in cells))
    axes |= {"limit": [100], "mode": ["closed"]}
    specs = {  # by derived id: a v1 merge may hold a cell twice
        CellSpec.model_validate(s).id: s
        for s in ({"variant": c["variant"], "params": c["params"]} for c in cells)
    }
    metadata = dict(data["metadata"])
    if isinstance(metadata.get("notes"), str):
        metadata["notes"] = [metadata["notes"]]
    return {
        "schema_version": 2,
        "run_id": data["run_id"],
        "plan": {
            "profile": data["profile"],
            "measure": measure,
            "sweeps": [{"name": "v1", "axes": axes, "cells": list(specs)}],
            "cells": list(specs.values()),
        },
        "metadata": metadata,
        "cells": cells,
        "finished_at": data.get("finished_at"),
    }
