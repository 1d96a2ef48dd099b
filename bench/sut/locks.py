"""Locked environments: one uv lock per Python variant and one for the harness itself.

Each lock is `uv pip compile --universal --generate-hashes` output (one resolution valid for
every Python version the project supports, with hashes); venvs are installed from it with
`uv pip sync --require-hashes`. `python -m bench lock` regenerates them (`--upgrade` to move).
"""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker

from bench import REPO
from bench.errors import BenchError
from bench.plan.matrix import Variant

HARNESS_LOCK = REPO / "locks" / "harness.txt"
HARNESS_EXTRAS = ("test", "lint")
MIN_PYTHON = "3.11"  # requires-python of the harness and of the variants
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def lock_file(variant: Variant) -> Path:
    """The lock a variant is built from: its uv lock, or Cargo.lock for the Rust server."""
    if variant.python:
        return variant.folder / "locks" / f"{variant.own_name}.txt"
    return variant.folder / "Cargo.lock"


def compile_lock(
    project: Path,
    extras: tuple[str, ...],
    out: Path,
    upgrade: bool,
    requires: tuple[str, ...] = (),
) -> None:
    """Resolve `project` with `extras` (and `requires`, e.g. a runtime's packages) into the
    hashed lock `out`, keeping its pins unless upgrading."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--universal"]
    cmd += ["--generate-hashes", "--python-version", MIN_PYTHON, "--no-header"]
    cmd += [arg for extra in extras for arg in ("--extra", extra)]
    cmd += ["--upgrade"] if upgrade else []
    cmd += [os.path.relpath(project / "pyproject.toml", REPO), "-o", str(out)]
    cmd += ["-"] if requires else []  # the runtime's packages, from stdin ("via -r -")
    stdin = "".join(f"{r}\n" for r in requires)
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, input=stdin)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-2:]
        raise BenchError(f"uv pip compile for {out.name} failed: {' | '.join(tail)}")


def lock_all(variants: list[Variant], upgrade: bool = False) -> list[Path]:
    """Regenerate the harness lock and every Python variant's lock; return the files."""
    compile_lock(REPO, HARNESS_EXTRAS, HARNESS_LOCK, upgrade)
    return [HARNESS_LOCK, *(lock_variant(v, upgrade) for v in variants if v.python)]


def lock_variant(variant: Variant, upgrade: bool = False) -> Path:
    """Regenerate a Python variant's lock: its project's extras plus its runtimes' packages."""
    lock = lock_file(variant)
    compile_lock(variant.folder, variant.app_extras, lock, upgrade, variant.requires)
    return lock


def pins(lock: Path) -> list[tuple[str, str, str | None]]:
    """The pins of a uv lock: (normalized name, version, environment marker or None).

    A universal lock may pin one name twice under exclusive markers (one per Python range).
    """
    matches = (_PIN.match(line) for line in lock.read_text().splitlines())
    return [(normalize(m[1]), m[2], m[3]) for m in matches if m]


def applicable(lock: Path) -> dict[str, str]:
    """The versions a lock installs on this interpreter and platform: name -> version."""
    return {
        name: v for name, v, marker in pins(lock) if marker is None or Marker(marker).evaluate()
    }


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def digest(path: Path) -> str:
    """The SHA-256 of a lock file, as the results record it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
