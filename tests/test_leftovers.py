"""No orphans: a harness killed hard is cleaned up after at the next start, through the registry
of what it started; a pid now used by another process is never touched; SIGHUP is an interrupt.

Real harness processes, servers, oha and Postgres; each test has its own state dir.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import MARKER, alive, build_once, interruptible, leftovers, stop, tagged
from test_bench_run import bench

from bench import REPO
from bench.load import leftovers as sweeper
from bench.load import registry

LONG = ("--profile", "smoke", "--variants", "fastapi-async", "--no-build", "--warmup", "0s")
LONG_LOAD = "-n 100000"  # the measured oha of a cell run with --requests 100000: long enough


def harness(args: list[str], state: Path, marker: str) -> "subprocess.Popen[str]":
    """`python -m bench ARGS` with its own state dir, its children tagged with `marker`."""
    return bench(*args, env={**os.environ, MARKER: marker, "XDG_STATE_HOME": str(state)})


def mid_cell(proc: "subprocess.Popen[str]", marker: str, out: Path) -> dict[str, object]:
    """Wait until the run's measured oha runs; return the registry copy in its run folder."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if any(LONG_LOAD in cmd and "bin/oha" in cmd for _, cmd in tagged(marker)):
            copy: dict[str, object] = json.loads((out / "processes.json").read_text())
            return copy
        time.sleep(0.2)
    stop(proc)
    pytest.fail(f"the measured repeat never started: {proc.communicate()[1][-2000:]}")


@pytest.mark.slow
def test_a_run_killed_mid_cell_is_cleaned_up_by_the_next_run(oha: Path, tmp_path: Path) -> None:
    build_once("fastapi-async")
    state, first, second = tmp_path / "state", f"killed-{time.time()}", f"next-{time.time()}"
    killed = harness(
        ["run", *LONG, "--requests", "100000", "--out", str(tmp_path / "a")], state, first
    )
    recorded = mid_cell(killed, first, tmp_path / "a")
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=30)
    (cluster,) = recorded["dirs"]  # type: ignore[misc]
    assert leftovers(first) and Path(cluster).is_dir()  # orphans, until the next start
    args = ["run", *LONG, "--duration", "1s", "--repeats", "1", "--out", str(tmp_path / "b")]
    proc = harness(args, state, second)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    (line,) = [x for x in stderr.splitlines() if "cleaned up" in x]
    assert line.startswith(f"bench: cleaned up after an earlier run (pid {killed.pid}, started ")
    assert line.endswith(f"): stopped 3 processes (oha, uvicorn, postgres), removed {cluster}")
    assert not leftovers(first) and not Path(cluster).exists()
    assert not list((state / "pybench" / "running").glob("*.json"))  # both registries gone
    assert (tmp_path / "a" / "processes.json").exists()  # what the killed run left, named
    assert not (tmp_path / "b" / "processes.json").exists()  # a clean exit removes it


@pytest.mark.slow
def test_sighup_stops_a_run_and_leaves_nothing_behind(oha: Path, tmp_path: Path) -> None:
    build_once("fastapi-async")
    state, marker, out = tmp_path / "state", f"hup-{time.time()}", tmp_path / "run"
    proc = harness(["run", *LONG, "--requests", "100000", "--out", str(out)], state, marker)
    (cluster,) = mid_cell(proc, marker, out)["dirs"]  # type: ignore[misc]
    os.kill(proc.pid, signal.SIGHUP)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert not leftovers(marker) and not Path(cluster).exists()
    assert not list((state / "pybench" / "running").glob("*.json"))
    assert not (out / "processes.json").exists()


def sleeper() -> "subprocess.Popen[bytes]":
    """A process unrelated to any run, in its own session like the harness's children."""
    return subprocess.Popen(["sleep", "120"], start_new_session=True)


def test_only_processes_that_match_pid_start_and_command_line_are_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = registry.Proc(pid=gone.pid, start_ticks=1, cmdline=["python", "-m", "bench", "run"])
    reused, renamed, ours, live_harness, its_child = (sleeper() for _ in range(5))
    try:
        now = {p.pid: registry.settled(p.pid) for p in (reused, renamed, ours, live_harness)}
        entries = [
            now[reused.pid].model_copy(update={"start_ticks": now[reused.pid].start_ticks - 1}),  # type: ignore[union-attr]
            now[renamed.pid].model_copy(update={"cmdline": ["sleep", "999"]}),  # type: ignore[union-attr]
            now[ours.pid],
        ]
        write(
            registry.Record(harness=dead, started=0, boot_id=registry.boot_id(), children=entries)
        )
        running = registry.Record(
            harness=now[live_harness.pid],  # another run, still in progress
            started=time.time(),
            boot_id=registry.boot_id(),
            children=[registry.settled(its_child.pid)],  # type: ignore[list-item]
        )
        write(running)
        (cleaned,) = sweeper.sweep()
        assert cleaned.line().endswith("): stopped 1 process (sleep)")
        assert not alive(ours.pid)
        assert all(alive(p.pid) for p in (reused, renamed, live_harness, its_child))
        files = list(registry.folder().glob("*.json"))
        assert files == [registry.path_of(running.harness)]  # the live one's, untouched
    finally:
        for proc in (reused, renamed, ours, live_harness, its_child):
            proc.kill()
            proc.wait()


def write(record: registry.Record) -> None:
    """A registry file, as a harness writes it."""
    registry.write_atomically(registry.path_of(record.harness), record.model_dump_json())


def test_a_signal_during_a_deferred_step_is_raised_after_it_and_a_second_is_ignored() -> None:
    code = """if True:
        import os, signal
        from bench import interrupts
        interrupts.install()
        try:
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                print("the step finished", flush=True)
        except KeyboardInterrupt:
            print("then the interrupt", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        print("a second signal is ignored")
    """
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30,
        preexec_fn=interruptible,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "the step finished",
        "then the interrupt",
        "a second signal is ignored",
    ]


def test_a_child_still_recorded_at_exit_is_stopped_and_the_registry_removed(
    tmp_path: Path,
) -> None:
    code = """if True:
        from bench.load import leftovers, processes
        proc = processes.start(["sleep", "120"])  # never stopped by its caller
        print(proc.pid, flush=True)
        print(leftovers.stop_own().line())
    """
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    pid, line = out.stdout.splitlines()
    assert line == "bench: cleaned up what was still running at exit: stopped 1 process (sleep)"
    assert not alive(int(pid))
    assert not list((tmp_path / "pybench" / "running").glob("*.json"))


@pytest.mark.slow  # over 2 s
def test_main_called_in_process_leaves_its_callers_children_alone(tmp_path: Path) -> None:
    """Only `python -m bench` stops what its process recorded, at the process's exit: main()
    called in-process (as a test does) returns with the caller's children still running."""
    code = """if True:
        from bench.cli import main
        from bench.load import processes
        from conftest import alive
        proc = processes.start(["sleep", "120"])  # the caller's, like a session's Postgres
        code = main(["compare", "default", "default"])
        print(code, alive(proc.pid), flush=True)
        processes.stop(proc)
    """
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "PYTHONPATH": str(REPO / "tests")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "0 True"


def test_a_cleanup_step_that_fails_is_named_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    target = tmp_path / "not-ours"
    target.mkdir()
    (target / "keep").write_text("a folder a symlink points at is never removed")
    link = Path(tempfile.mkdtemp(prefix="pybench-pg-"))
    link.rmdir()
    link.symlink_to(target)  # rmtree refuses a symlink: this step fails
    cluster = Path(tempfile.mkdtemp(prefix="pybench-pg-"))
    child = sleeper()
    try:
        dead = registry.Proc(pid=999_999_999, start_ticks=1, cmdline=["python", "-m", "bench"])
        record = registry.Record(
            harness=dead, started=0, boot_id=registry.boot_id(),
            children=[registry.settled(child.pid)], dirs=[str(link), str(cluster)],
        )  # type: ignore[list-item]  # fmt: skip
        write(record)
        (cleaned,) = sweeper.sweep()
        assert cleaned.stopped == ["sleep"] and not alive(child.pid)
        assert cleaned.removed == [str(cluster)] and not cluster.exists()
        assert cleaned.line().endswith(
            f"could not clean: {link}: Cannot call rmtree on a symbolic link"
        )
        assert (target / "keep").exists()
        assert registry.path_of(dead).exists()  # kept, to try again at the next start
    finally:
        child.kill()
        child.wait()
        link.unlink()
