"""Child processes: started under a CPU set in their own process group, stopped with the group.

Each is recorded in the registry (`bench.load.registry`) while it runs, so that a harness
killed hard leaves nothing the next start cannot find. Starting and recording, and stopping
and forgetting, each run whole: a signal arriving meanwhile is raised once they are done.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

from bench import interrupts
from bench.load import netns as namespaces
from bench.load import registry


@contextlib.contextmanager
def _pinned(cpus: Collection[int] | None) -> Iterator[None]:
    """Pin the calling thread to `cpus` while a child is forked from it, which inherits it.

    (No pre-exec hook: Python runs fork handlers around those, and a Ctrl-C arriving there
    is swallowed.) On Linux the affinity of pid 0 is the calling thread's alone.
    """
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def start(
    cmd: Sequence[str],
    *,
    cpus: Collection[int] | None = None,
    env: dict[str, str] | None = None,
    log: IO[bytes] | None = None,
    errors: IO[bytes] | None = None,
    user: str | None = None,
    netns: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session (its own process group), pinned to `cpus` from the start,
    in network namespace `netns` (None: the calling thread's).

    The child is born with the affinity and the namespace, so every process it forks (uvicorn
    workers, Postgres backends) inherits them. stdout goes to `log`, stderr too unless
    `errors` is given.
    """
    out = log if log is not None else subprocess.DEVNULL
    err = errors if errors is not None else subprocess.STDOUT
    return _spawn(cmd, cpus, env=env, stdout=out, stderr=err, user=user, netns=netns)


def run(
    cmd: Sequence[str],
    *,
    cpus: Collection[int] | None = None,
    user: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    netns: str | None = None,
) -> str:
    """Run `cmd` to completion (pinned, in its own group, in network namespace `netns` if
    given); return its output, raise on failure.

    Past `timeout` seconds (TimeoutExpired), or on an interrupt, its group is stopped.
    """
    pipe = subprocess.PIPE
    proc: subprocess.Popen[str]
    with _spawn(
        cmd, cpus, stdout=pipe, stderr=pipe, text=True, user=user, env=env, netns=netns
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            stop(proc)
            raise
        registry.remove(proc.pid)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, out, err)
    return out


def _spawn(
    cmd: Sequence[str], cpus: Collection[int] | None, netns: str | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """Popen `cmd` pinned (and in namespace `netns`), in a new session, and record it; a
    failure to record it, or an interrupt meanwhile, stops it again (the caller would never
    see it)."""
    proc = None
    try:
        with interrupts.deferred():
            with _pinned(cpus), namespaces.entered(netns):
                proc = subprocess.Popen(
                    list(cmd), stdin=subprocess.DEVNULL, start_new_session=True, **popen
                )
            registry.add(proc.pid)
    except BaseException:
        if proc is not None:
            stop(proc)
        raise
    return proc


def wait(proc: subprocess.Popen[Any], timeout: float) -> tuple[int, tuple[float, float]]:
    """Wait at most `timeout` seconds for `proc` to exit, and reap it: its exit code and the
    CPU seconds (user, system) it used, with those of the children it reaped, as the kernel
    accounts them (wait4). Raises TimeoutExpired as Popen.wait does."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, (usage.ru_utime, usage.ru_stime)
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.01)


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """Stop the process group led by `proc`: SIGTERM, then SIGKILL after `timeout` seconds.

    Returns the leader's exit code (None if it could not be reaped).
    """
    with interrupts.deferred():
        _stop_group(proc, timeout)
        registry.remove(proc.pid)
    return proc.poll()


def _stop_group(proc: subprocess.Popen[Any], timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    _kill_group_leftovers(proc.pid)


def _kill_group_leftovers(pgid: int) -> None:
    """Kill anything still in the group (e.g. a worker that outlived its parent)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def cmdline(pid: int) -> list[str]:
    """The argv of `pid`, read back from /proc."""
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]]


def cpus_allowed(pid: int) -> str:
    """The kernel's `Cpus_allowed_list` for `pid`, as read back from /proc (e.g. "0-1")."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"no Cpus_allowed_list for pid {pid}")


def listeners(pid: int, port: int) -> int:
    """How many processes of `pid`'s tree accept on `port` (read from /proc via psutil).

    A server with workers listens in each worker, and usually in its supervisor too: the
    count is that of the listening descendants, or 1 when only `pid` itself listens.
    """

    def listens(proc: psutil.Process) -> bool:
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)

    root = psutil.Process(pid)
    children = sum(listens(child) for child in root.children(recursive=True))
    return children or int(listens(root))


def _tree(pid: int) -> list[psutil.Process]:
    """`pid` and its descendants (those that exist right now)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _tcp(proc: psutil.Process) -> list[Any]:
    """`proc`'s TCP sockets ([] once it is gone)."""
    try:
        return list(proc.net_connections(kind="tcp"))
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def peers(client: int, server: int, port: int) -> list[int]:
    """The children of `server` (a postmaster) holding the other end of a TCP connection
    that `client`'s tree opened to `port`: a server's own database backends, told apart from
    another server's on the same database by the client's local ports. In pid order."""
    ours = [c for p in _tree(client) for c in _tcp(p)]
    ports = {c.laddr.port for c in ours if c.raddr and c.raddr.port == port}
    found = [
        child.pid
        for child in psutil.Process(server).children()
        if any(c.raddr and c.laddr.port == port and c.raddr.port in ports for c in _tcp(child))
    ]
    return sorted(found)
