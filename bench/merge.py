"""Merge runs (e.g. CI shards, one variant each) into one run, refusing mixed machines."""

from bench.errors import UsageError
from bench.results import Run

KEY_METADATA = (("cpu", "model"), ("cpu", "logical"), ("git", "commit"), ("pinning", "plan"))


def _key(run: Run) -> dict[str, object]:
    out: dict[str, object] = {}
    for section, name in KEY_METADATA:
        out[f"{section}.{name}"] = (run.metadata.get(section) or {}).get(name)
    return out


def merge(runs: list[Run], run_id: str) -> Run:
    """One run holding every cell of `runs`; their key metadata (CPU, commit, plan) must match."""
    first = runs[0]
    for other in runs[1:]:
        diff = {k: (v, _key(other)[k]) for k, v in _key(first).items() if _key(other)[k] != v}
        if diff:
            name, (a, b) = next(iter(diff.items()))
            raise UsageError(
                f"cannot merge {first.run_id} and {other.run_id}: {name} differs "
                f"({a!r} vs {b!r}); merge runs from one machine and commit only"
            )
    metadata = dict(first.metadata)
    metadata["merged_from"] = [r.run_id for r in runs]
    metadata["variants"] = {
        name: info for r in runs for name, info in (r.metadata.get("variants") or {}).items()
    }
    cells = [cell for r in runs for cell in r.cells]
    profiles = sorted({r.profile for r in runs})
    return Run(
        run_id=run_id,
        profile="+".join(profiles),
        metadata=metadata,
        cells=cells,
        finished_at=max((r.finished_at or "") for r in runs) or None,
    )
