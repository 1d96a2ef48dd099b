"""The README's Quick start as written, with this machine's Debian `/usr/bin/python3`
(externally managed, PEP 668) and with a plain virtualenv's python, each in an empty HOME:
its set-up line runs, then nox starts and lists the sessions the next lines run. Nothing is
built or measured (that is `nox -s bench` itself, tested elsewhere). Needs PyPI."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import REPO

DEBIAN = Path("/usr/bin/python3")
MANAGED = Path("/usr/lib/python3.11/EXTERNALLY-MANAGED")


def quick_start() -> list[str]:
    """The Quick start's command lines, as the README gives them (comments dropped)."""
    text = (REPO / "README.md").read_text().split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "the Quick start has a ```sh block"
    return [re.sub(r"\s+#.*", "", line) for line in block[1].splitlines() if line.strip()]


def test_the_quick_start_is_a_set_up_line_then_the_benchmark_and_the_tests() -> None:
    setup, *commands = quick_start()
    assert "pip install" in setup and not setup.startswith("python3 -m pip")  # PEP 668
    assert commands == [".venv/bin/nox -s bench", ".venv/bin/nox -s tests"]


@pytest.mark.slow  # a venv and nox and uv from PyPI: about half a minute
@pytest.mark.parametrize("python", ["debian", "virtualenv"])
def test_the_quick_start_runs_as_written_up_to_nox(python: str, tmp_path: Path) -> None:
    if not DEBIAN.exists() or not MANAGED.exists():
        pytest.fail(f"this test runs Debian's own python3 ({DEBIAN}, {MANAGED}): run it on Debian")
    home, work = tmp_path / "home", tmp_path / "checkout"
    home.mkdir()
    work.mkdir()
    shutil.copy(REPO / "noxfile.py", work)  # what nox reads when it starts
    path = "/usr/local/bin:/usr/bin:/bin"
    if python == "virtualenv":  # the user's shell has a virtualenv active
        subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "env")], check=True)
        path = f"{tmp_path / 'env' / 'bin'}:{path}"
    env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8"}
    refused = subprocess.run(
        ["python3", "-m", "pip", "install", "nox"], cwd=work, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    if python == "debian":  # why the Quick start does not say `python3 -m pip install`
        assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr
    setup, *commands = quick_start()
    done = subprocess.run(
        ["bash", "-ec", setup], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / ".venv" / "pyvenv.cfg").is_file()
    listed = subprocess.run(
        [str(work / ".venv/bin/nox"), "--list"], cwd=work, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    sessions = re.findall(r"^[*-] (\S+)", listed.stdout, re.M)
    for command in commands:
        program, _, session = command.split()
        assert (work / program).is_file() and os.access(work / program, os.X_OK)
        assert session in sessions, listed.stdout
    uv = subprocess.run(
        [str(work / ".venv/bin/python"), "-c", "import uv; print(uv.find_uv_bin())"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert uv.returncode == 0 and Path(uv.stdout.strip()).is_file(), uv.stderr
