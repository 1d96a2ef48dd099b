"""Where the harness keeps what it builds and caches."""

import hashlib
import os
from pathlib import Path

from bench import REPO

REPORTS = REPO / "reports"


def in_reports(path: Path, reports: Path = REPORTS) -> bool:
    """Whether `path` (symlinks resolved) lies under `reports`, by default this checkout's
    reports/: a run kept there is indexed and may be reports/latest; one written elsewhere
    (`--out /tmp/...`, a test's) leaves this checkout as it was."""
    return path.resolve().is_relative_to(reports.resolve())


def cache_dir() -> Path:
    """Per-user cache for things reused across runs (cargo target dir, oha, wheels)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    path = Path(base) / "pybench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cargo_target(crate: Path) -> Path:
    """The cargo target folder of the crate in `crate`, one per crate folder, kept in the user
    cache. Not one for all: cargo names a build by the crate's path within its workspace, not
    on disk, so two copies of a crate (a head and its baseline worktree) in one folder take
    each other's binary for fresh whenever the sources are older than the other's build
    (2026-12-05: the baseline's wheel held the head's binary)."""
    folder = crate.resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return cache_dir() / "cargo-target" / f"{folder.name}-{digest}"


def variants_dir() -> Path:
    """Where each server variant's isolated virtualenv lives."""
    return REPO / ".nox" / "variants"


def state_dir() -> Path:
    """Per-user state kept between runs (what a harness started, for cleanup after it)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    path = Path(base) / "pybench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def link_latest(run_dir: Path) -> None:
    """Point reports/latest at `run_dir` (a relative symlink, replaced atomically) when the
    run is kept under reports/; a run written elsewhere (--out /tmp/..., a test's) is not
    "the latest" of this checkout."""
    latest = REPORTS / "latest"
    if not in_reports(run_dir):
        return
    tmp = latest.with_name(".latest.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(run_dir, latest.parent))
    os.replace(tmp, latest)
