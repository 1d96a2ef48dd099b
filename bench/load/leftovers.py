"""Cleaning up after harness runs that died without doing it (SIGKILL, OOM, a lost terminal).

Their registry files (`bench.load.registry`) name what they started. A harness that still
runs is left alone. For a dead one, each recorded process that still runs, the same pid with
the same start time and command line, is stopped: its process group with SIGTERM, then
SIGKILL; a Postgres postmaster with a fast shutdown, then SIGKILL. A pid now used by another
process is never touched. Its cluster folders and network namespaces (with their links and
qdiscs) are removed, and so is its registry file. Each
step is independent: one that fails is named and the others still run.
"""

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import psutil

from bench.load import registry
from bench.load.registry import Proc, Record
from bench.plan.topology import NAMESPACE_PREFIX

TERM_WAIT_S = 5.0  # after SIGTERM (a fast shutdown for Postgres), before SIGKILL
CLUSTER_PREFIX = "pybench-pg-"  # the only folders removed (LocalCluster's temp roots)


@dataclass
class Cleaned:
    """What was done for one dead harness."""

    harness: Proc
    started: float
    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for stderr saying what was cleaned."""
        started = datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M")
        done = []
        if self.stopped:
            count = f"{len(self.stopped)} process{'es' if len(self.stopped) > 1 else ''}"
            done.append(f"stopped {count} ({', '.join(self.stopped)})")
        if self.removed:
            done.append(f"removed {', '.join(self.removed)}")
        if self.failed:
            done.append(f"could not clean: {'; '.join(self.failed)}")
        if self.harness.pid == os.getpid():
            return f"bench: cleaned up what was still running at exit: {', '.join(done)}"
        whose = f"an earlier run (pid {self.harness.pid}, started {started})"
        return f"bench: cleaned up after {whose}: {', '.join(done)}"

    def __bool__(self) -> bool:
        return bool(self.stopped or self.removed or self.failed)


def sweep() -> list[Cleaned]:
    """Clean up after every earlier harness that died; return what was done, per harness."""
    done = []
    with _locked(registry.folder() / "sweep.lock"):
        for path in sorted(registry.folder().glob("*.json")):
            try:
                record = Record.model_validate_json(path.read_text())
            except (OSError, ValueError):
                continue  # unreadable: not ours to judge
            if record.boot_id == registry.boot_id() and registry.running(record.harness):
                continue  # still running (another run in progress, or this one)
            cleaned = clean(record)
            if not cleaned.failed:
                path.unlink(missing_ok=True)
                path.with_name(f"{path.name}.tmp").unlink(missing_ok=True)
            if cleaned:
                done.append(cleaned)
    return done


def stop_own() -> Cleaned | None:
    """At this harness's exit: stop what it recorded that still runs, and drop its registry.

    Normally nothing is left (each child is stopped where it was started); a signal between
    a child's start and its caller's cleanup is the exception this catches."""
    record = registry.current()
    if record is None:
        return None
    cleaned = clean(record)
    registry.close()
    return cleaned or None


def clean(record: Record) -> Cleaned:
    """Stop what `record` names that still runs (last started first), remove its folders.

    Its processes are all gone if it was written before the machine last booted."""
    cleaned = Cleaned(record.harness, record.started)
    alive = record.boot_id == registry.boot_id()
    for child in reversed(record.children if alive else []):
        _step(cleaned, cleaned.stopped, short(child.cmdline), partial(_stop, child))
    for folder in record.dirs:
        _step(cleaned, cleaned.stopped, "postgres", partial(stop_cluster, Path(folder)))
        _step(cleaned, cleaned.removed, folder, partial(_remove, Path(folder)))
    for name in record.netns:  # after the processes inside them
        _step(cleaned, cleaned.removed, f"network namespace {name}", partial(_remove_netns, name))
    return cleaned


def short(cmdline: list[str]) -> str:
    """A process's short name: its program, or the module run by `python -m`."""
    if not cmdline:
        return "?"
    name = Path(cmdline[0]).name
    if name.startswith("python") and "-m" in cmdline[1:-1]:
        return cmdline[cmdline.index("-m") + 1]
    return name


def _step(cleaned: Cleaned, done: list[str], what: str, action: Callable[[], bool]) -> None:
    """Run one cleanup step, noting `what` in `done` if it acted; a failure is noted in
    `cleaned.failed` and does not stop the next steps."""
    try:
        if action():
            done.append(what)
    except Exception as exc:  # each step on its own: note it, go on
        cleaned.failed.append(f"{what}: {exc}")


def _stop(child: Proc) -> bool:
    """Stop `child` if it still runs as recorded (or its group's workers, if only they do)."""
    leader = registry.running(child)
    if leader and child.data_dir:
        _shutdown(leader)
        return True
    members = _group(child, leader)
    if not members:
        return False
    if leader:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)  # the leader was just checked: the group is ours
    else:
        _signal(members, signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=TERM_WAIT_S)
    _signal(alive, signal.SIGKILL)
    return True


def _group(child: Proc, leader: psutil.Process | None) -> list[psutil.Process]:
    """The processes of `child`'s process group (it led one: it was started in a new session).

    Without its leader, only members started after it that run the same program are taken,
    and none if its pid now belongs to another process: Linux reuses a pid only once no
    process and no group holds it, so the group is gone."""
    if not leader and registry.identify(child.pid):
        return []
    members = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) != child.pid:
                continue
            same_program = (proc.info["cmdline"] or [""])[0] == child.cmdline[0]
            if leader or (_ticks(proc.pid) >= child.start_ticks and same_program):
                members.append(proc)
    return members


def _ticks(pid: int) -> int:
    found = registry.identify(pid)
    return found.start_ticks if found else -1


def _shutdown(postmaster: psutil.Process) -> None:
    """Postgres's fast shutdown (SIGINT), then SIGKILL for it and its backends."""
    backends = postmaster.children()
    _signal([postmaster], signal.SIGINT)
    _, alive = psutil.wait_procs([postmaster], timeout=TERM_WAIT_S)
    _signal([*alive, *backends], signal.SIGKILL)


def stop_cluster(root: Path) -> bool:
    """Stop the postmaster of the cluster in `root` still running (its pg_ctl start was cut
    short before it was recorded): pid and start time from postmaster.pid, its data folder
    on its command line."""
    data = root / "data"
    try:
        pid, datadir, stamp = (data / "postmaster.pid").read_text().splitlines()[:3]
        proc = psutil.Process(int(pid))
        started, cmdline = proc.create_time(), proc.cmdline()
    except (OSError, ValueError, psutil.Error):
        return False
    if not -2 < int(stamp) - started < 60 or datadir != str(data) or datadir not in cmdline:
        return False
    _shutdown(proc)
    return True


def _remove(path: Path) -> bool:
    """Remove a cluster's folder (only one named like LocalCluster's)."""
    if not path.name.startswith(CLUSTER_PREFIX) or not path.is_dir():
        return False
    shutil.rmtree(path)
    return True


def _remove_netns(name: str) -> bool:
    """Remove a network namespace the harness made (only one named pybench-*), with its links
    and qdiscs."""
    if not name.startswith(NAMESPACE_PREFIX) or not (registry.NETNS_DIR / name).exists():
        return False
    subprocess.run(["ip", "netns", "delete", name], check=True, capture_output=True, timeout=10)
    return True


def _signal(procs: list[psutil.Process], sig: signal.Signals) -> None:
    """Send `sig` to each (psutil checks the pid was not reused meanwhile)."""
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One sweep at a time (two runs starting together would both clean the same leftovers)."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
