"""A variant is one folder and one matrix entry: a throwaway app goes the whole way.

tests/data/throwaway is a bare ASGI app over asyncpg (no FastAPI). Copied to a temporary
folder and declared in a temporary matrix file (the repository's plus one entry), it is
locked, built, verified against the database and measured by a smoke run, through the
command line only, as the README's "Adding a variant" describes.
"""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import REPO
from bench.model import store
from bench.paths import variants_dir
from bench.plan.matrix import MATRIX

pytestmark = pytest.mark.slow  # locks, builds and benchmarks a variant

NAME = "throwaway-test"
ENTRY = """
[variants.{name}]
kind = "python"
path = "{path}"
extras = ["app"]
app = "throwaway_app:create_app"
runtimes = ["uvicorn"]
driver = "asyncpg"
rps_hint = 1000
summary = "a bare ASGI app over asyncpg (the throwaway-variant test)"
"""


def bench(matrix: Path, *args: str) -> str:
    """`python -m bench --matrix MATRIX ARGS...`; its output, or a failure with its stderr."""
    cmd = [sys.executable, "-m", "bench", "--matrix", str(matrix), *args]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture
def matrix(tmp_path: Path) -> Iterator[Path]:
    """The repository's matrix plus the throwaway variant in a copy of its folder."""
    folder = tmp_path / "throwaway"
    shutil.copytree(REPO / "tests" / "data" / "throwaway", folder)
    path = tmp_path / "matrix.toml"
    path.write_text(MATRIX.read_text() + ENTRY.format(name=NAME, path=folder))
    yield path
    shutil.rmtree(variants_dir() / NAME, ignore_errors=True)


def test_a_new_variant_needs_one_folder_and_one_matrix_entry(
    matrix: Path, oha: Path, tmp_path: Path
) -> None:
    assert "locked" in bench(matrix, "lock", "--variants", NAME)
    lock = tmp_path / "throwaway" / "locks" / f"{NAME}.txt"
    assert "asyncpg==" in lock.read_text() and "uvicorn==" in lock.read_text()
    bench(matrix, "build", "--variants", NAME)
    assert f"ok  {NAME}: 10 requests match the database" in bench(
        matrix, "verify", "--variants", NAME, "--no-build"
    )
    out = tmp_path / "run"
    bench(matrix, "run", "--profile", "smoke", "--variants", NAME, "--no-build", "--out", str(out))
    run = store.load(out / "results.json")
    (cell,) = run.cells
    assert cell.ok and cell.repeats[0].load.rps > 0, cell.error
    assert cell.server and cell.server.reported["driver"] == "asyncpg"
    assert cell.server.workers == 1
    info = run.metadata.variants[NAME]
    assert info.packages["throwaway-app"] == "0.0.1" and "fastapi" not in info.packages
    assert info.lock and info.lock.endswith(f"{NAME}.txt")
    assert NAME in (out / "report.md").read_text()
