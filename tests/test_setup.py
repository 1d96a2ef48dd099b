"""Set-up builds side by side: one line per step with its duration, and a failed step is
raised only once every other step has ended (nothing left building behind the error)."""

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.paths import variants_dir
from bench.plan import matrix
from bench.run import setup

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
