"""Set-up builds side by side: one line per step with its duration, and a failed step is
raised only once every other step has ended (nothing left building behind the error)."""

import dataclasses
import re
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.paths import variants_dir
from bench.plan import matrix
from bench.run import setup
from bench.sut import variants

pytestmark = pytest.mark.slow  # builds a variant


def test_a_failed_build_is_raised_after_the_others_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = matrix.load_variants()["fastapi-async"]
    # the same app from a copy of its folder without its lock: it fails at once
    folder = tmp_path / "nolock"
    shutil.copytree(good.folder, folder, ignore=shutil.ignore_patterns("locks", ".venv"))
    broken = dataclasses.replace(good, name="setup-test-nolock", path=str(folder))
    try:
        with pytest.raises(BenchError, match="setup-test-nolock has no lock"):
            setup.build([broken, good])
        out = capsys.readouterr().out
        assert re.search(r"^set-up: fastapi-async ready in \d+(\.\d)?s$", out, re.MULTILINE), out
        assert "setup-test-nolock ready" not in out
        assert (good.venv / "bin" / "python").exists()
    finally:
        shutil.rmtree(variants_dir() / broken.name, ignore_errors=True)


def tiny_crate(folder: Path, word: str) -> matrix.Variant:
    """A Rust bin crate `pybench-tiny` (maturin, bindings "bin") that prints `word`."""
    (folder / "src").mkdir(parents=True)
    (folder / "Cargo.toml").write_text(
        '[package]\nname = "pybench-tiny"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["maturin>=1.5,<2"]\nbuild-backend = "maturin"\n'
        '[project]\nname = "pybench-tiny"\nversion = "0.1.0"\n[tool.maturin]\nbindings = "bin"\n'
    )
    (folder / "src" / "main.rs").write_text(f'fn main() {{ println!("{word}"); }}\n')
    return matrix.Variant(
        name=folder.name, kind="rust", path=str(folder), summary="", rps_hint=1.0,
        binary="pybench-tiny",
    )  # fmt: skip


def test_rust_wheels_built_at_once_each_hold_their_own_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies of one crate (a head and its baseline), built at once as the set-up does:
    each wheel holds the binary of its own source (with one cargo target folder for both,
    the second took the first's build for fresh), and neither build fails."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    crates = [tiny_crate(tmp_path / word, word) for word in ("head", "baseline")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        wheels = list(
            pool.map(lambda v: variants.build_rust_wheel(v, tmp_path / f"{v.name}-out"), crates)
        )
    for crate, wheel in zip(crates, wheels, strict=True):
        with zipfile.ZipFile(wheel) as zipped:
            (name,) = [n for n in zipped.namelist() if n.endswith("/scripts/pybench-tiny")]
            binary = tmp_path / f"{crate.name}.bin"
            binary.write_bytes(zipped.read(name))
        binary.chmod(0o755)
        said = subprocess.run([binary], capture_output=True, text=True, check=True).stdout
        assert said.strip() == crate.name
