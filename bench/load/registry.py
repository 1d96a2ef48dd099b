"""The registry of what this harness started, on disk, so that nothing outlives a hard death.

Every child (servers, oha, pgbench, Postgres's tools), the Postgres postmaster (which pg_ctl
daemonizes), the throwaway cluster's folder and the network namespaces are recorded in one
JSON file per harness process, in the per-user state dir
(`$XDG_STATE_HOME/pybench/running/`, by default under
~/.local/state), rewritten atomically on every change and copied into the run folder. A
process is recorded by pid, start time (in clock ticks since boot, which a wall clock set by
NTP cannot shift) and command line, so a pid the kernel has since given to another process is
never mistaken for it. The file goes when the harness exits with
nothing left running; after a SIGKILL or an OOM kill it stays, and the next start cleans up
after it (`bench.load.leftovers`).
"""

import atexit
import contextlib
import os
import threading
import time
from pathlib import Path

import psutil
from pydantic import BaseModel

from bench.errors import BenchError
from bench.paths import state_dir

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
NETNS_DIR = Path("/run/netns")  # where `ip netns` keeps the namespaces it names
SETTLE_S = 2.0  # at most, for a child's command line to appear in /proc


class Proc(BaseModel):
    """One process: pid, start time (clock ticks after boot) and command line."""

    pid: int
    start_ticks: int
    cmdline: list[str]
    data_dir: str | None = None  # a postmaster's data folder: stopped by a fast shutdown


class Record(BaseModel):
    """What one harness process started and has not stopped yet."""

    harness: Proc
    started: float  # the harness's start, seconds since the epoch (to name it)
    boot_id: str  # processes of another boot are all gone
    children: list[Proc] = []
    dirs: list[str] = []
    netns: list[str] = []  # network namespaces (their links and qdiscs go with them)


def folder() -> Path:
    """Where the harnesses' registry files are, one per harness process."""
    path = state_dir() / "running"
    path.mkdir(parents=True, exist_ok=True)
    return path


def identify(pid: int) -> Proc | None:
    """`pid` as it runs now, read from /proc (None when it is gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        state, *fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 on
        cmdline = psutil.Process(pid).cmdline()
    except (OSError, psutil.Error):
        return None
    if state in ("Z", "X"):
        return None
    return Proc(pid=pid, start_ticks=int(fields[18]), cmdline=cmdline)  # field 22: starttime


def running(recorded: Proc) -> psutil.Process | None:
    """The process `recorded` names if it still runs (same pid, start time and command line);
    None if it is gone or its pid now belongs to another process."""
    now = identify(recorded.pid)
    if now is None or (now.start_ticks, now.cmdline) != (recorded.start_ticks, recorded.cmdline):
        return None
    with contextlib.suppress(psutil.Error):
        return psutil.Process(recorded.pid)
    return None


def boot_id() -> str:
    """This boot's id: a record of another boot names no process that still runs."""
    return BOOT_ID.read_text().strip()


_lock = threading.RLock()
_record: Record | None = None
_file: Path | None = None  # where _record is kept, fixed when it is first written
_copy: Path | None = None


def add(pid: int, data_dir: Path | None = None) -> None:
    """Record child `pid` (as /proc shows it now); `data_dir` for a Postgres postmaster."""
    found = settled(pid)
    if found is None:
        return
    found.data_dir = str(data_dir) if data_dir else None
    with _lock:
        record = _current()
        record.children.append(found)
        _save(record)


def settled(pid: int) -> Proc | None:
    """`pid` as `identify` reads it, once its command line is there (just after exec, /proc
    can show it empty)."""
    deadline = time.monotonic() + SETTLE_S
    while (found := identify(pid)) and not found.cmdline and time.monotonic() < deadline:
        time.sleep(0.001)
    return found


def remove(pid: int) -> None:
    """Forget child `pid` (it was stopped)."""
    with _lock:
        if _record and any(c.pid == pid for c in _record.children):
            _record.children = [c for c in _record.children if c.pid != pid]
            _save(_record)


def add_dir(path: Path) -> None:
    """Record a folder to remove if this harness dies (a throwaway cluster's root)."""
    with _lock:
        record = _current()
        record.dirs.append(str(path))
        _save(record)


def remove_dir(path: Path) -> None:
    """Forget a folder (it was removed)."""
    with _lock:
        if _record and str(path) in _record.dirs:
            _record.dirs.remove(str(path))
            _save(_record)


def add_netns(name: str) -> None:
    """Record a network namespace (before it is made) to remove if this harness dies."""
    with _lock:
        record = _current()
        if name not in record.netns:
            record.netns.append(name)
        _save(record)


def remove_netns(name: str) -> None:
    """Forget a network namespace (it was removed)."""
    with _lock:
        if _record and name in _record.netns:
            _record.netns.remove(name)
            _save(_record)


def copy_to(path: Path) -> None:
    """Also keep a copy of the registry at `path` (in the run folder)."""
    global _copy
    with _lock:
        _copy = path
        if _record:
            _save(_record)


def current() -> Record | None:
    """This harness's record (None when it started nothing, or is not the process that did)."""
    return _record if _record and _record.harness.pid == os.getpid() else None


def path_of(harness: Proc) -> Path:
    """The registry file of the harness `harness`."""
    return folder() / f"{harness.pid}-{harness.start_ticks}.json"


def close() -> None:
    """Remove the registry file and its copy once nothing recorded runs any more (at exit).

    With a recorded child still running, the file stays for the next start to clean up."""
    global _record
    with _lock:
        if _record is None or _record.harness.pid != os.getpid():
            return
        _prune(_record)  # a namespace is recorded before it exists: only gone ones drop here
        _record.netns = [n for n in _record.netns if (NETNS_DIR / n).exists()]
        if _record.children or _record.dirs or _record.netns:
            return
        for path in (_file, _copy):
            if path:
                path.unlink(missing_ok=True)
        _record = None


def _current() -> Record:
    global _record, _file
    if _record is None:
        harness = identify(os.getpid())
        assert harness is not None  # this very process
        try:
            _file = path_of(harness)
        except OSError as exc:
            raise _unwritable(exc) from None
        _record = Record(harness=harness, started=psutil.Process().create_time(), boot_id=boot_id())
        atexit.register(close)
    return _record


def _prune(record: Record) -> None:
    """Drop children that exited on their own and folders already gone."""
    record.children = [c for c in record.children if running(c)]
    record.dirs = [d for d in record.dirs if Path(d).exists()]


def _save(record: Record) -> None:
    _prune(record)
    text = record.model_dump_json(indent=2, exclude_none=True)
    try:
        assert _file is not None  # set with the record
        write_atomically(_file, text)
    except OSError as exc:
        raise _unwritable(exc) from None
    if _copy:
        with contextlib.suppress(OSError):  # a run folder gone or full: the state dir counts
            write_atomically(_copy, text)


def _unwritable(exc: OSError) -> BenchError:
    return BenchError(
        f"cannot record the processes this run starts ({exc.filename}: {exc.strerror}): "
        "set XDG_STATE_HOME to a writable folder"
    )


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
