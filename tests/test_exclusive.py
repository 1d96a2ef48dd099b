"""One harness measuring at a time: a second is refused in one line, and a killed holder's
lock is gone with it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import REPO
from bench.load import exclusive
from bench.paths import state_dir

CLAIM = "from bench.load import exclusive; exclusive.claim('run')"
HOLD = f"{CLAIM}; print('held', flush=True); import time; time.sleep(120)"


def python(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run this Python in the repository with `args`, its output captured."""
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_a_second_run_is_refused_while_one_holds_the_machine_and_not_once_it_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    out = tmp_path / "run"
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        second = python("-m", "bench", "run", "--profile", "smoke", "--out", str(out), env=env)
        build = python("-m", "bench", "build", "--variants", "fastapi-async", env=env)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert re.fullmatch(
        rf"bench: error: `bench run` \(pid {holder.pid}, since \d\d:\d\d:\d\d\) is running on "
        r"this machine, and two runs at once measure each other: wait for it to end, or stop it",
        line,
    ), line
    assert not out.exists()
    assert build.returncode == 2 and build.stderr.startswith("bench: error: `bench run` (pid ")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    exclusive.claim("verify")  # the kernel dropped the killed holder's lock
    try:
        held = (state_dir() / "measuring.lock").read_text()
        assert held.startswith(f"`bench verify` (pid {os.getpid()}, since ")
    finally:
        exclusive.release()


def test_a_lock_held_in_this_process_refuses_another_and_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    exclusive.claim("run")
    try:
        other = python("-c", CLAIM, timeout=30)
        assert other.returncode != 0 and "UsageError" in other.stderr
    finally:
        exclusive.release()
    free = python("-c", CLAIM, timeout=30)
    assert free.returncode == 0, free.stderr
