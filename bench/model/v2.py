"""Migration of schema_version 2 files to version 3.

Version 3 records the database provider as `metadata.db_provider` (version 2 kept it as
`metadata.tools["db_provider"]`) and lets a CPUs field hold CPUs only: version 2 wrote
"external" as a cell's database CPUs (no local postmaster to read them from) and "any" as an
unpinned probe's, and both are dropped. The plan's `reference` stays unset: the report takes
it from the matrix file in use.
"""

import re
from typing import Any

CPU_LIST = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")


def _cpus(holder: dict[str, Any] | None) -> None:
    """Keep only the CPU lists of `holder`'s `cpus` (in place)."""
    if holder and isinstance(holder.get("cpus"), dict):
        holder["cpus"] = {
            role: cpus
            for role, cpus in holder["cpus"].items()
            if isinstance(cpus, str) and CPU_LIST.fullmatch(cpus)
        }


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """The version 3 form of a version 2 document."""
    data = dict(data, schema_version=3)
    metadata = dict(data.get("metadata") or {})
    tools = dict(metadata.get("tools") or {})
    if (provider := tools.pop("db_provider", None)) is not None:
        metadata["db_provider"] = provider
    data["metadata"] = metadata | {"tools": tools}
    data["cells"] = [dict(c) for c in data.get("cells", [])]
    data["probes"] = [dict(p) for p in data.get("probes", [])]
    data["flamegraphs"] = [dict(f) for f in data.get("flamegraphs", [])]
    if data.get("soak") is not None:
        data["soak"] = dict(data["soak"])
    for holder in (*data["cells"], *data["probes"], *data["flamegraphs"], data.get("soak")):
        _cpus(holder)
    return data
