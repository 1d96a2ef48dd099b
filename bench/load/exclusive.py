"""One harness measuring at a time: two runs side by side measure each other (and two A/B runs
would share the baseline's worktree).

A command that builds, starts or measures anything holds an exclusive lock on a file in the
per-user state dir while it runs. The kernel drops the lock when the process ends, however it
ends, so a killed run never leaves it held. The file names its holder for the next one.
"""

import fcntl
import os
import time
from typing import IO

from bench.errors import UsageError
from bench.paths import state_dir

_held: IO[str] | None = None


def claim(command: str) -> None:
    """Hold the lock until `release` or this process's end; a UsageError naming the harness
    that holds it already."""
    global _held
    if _held is not None:
        return
    lock = open(state_dir() / "measuring.lock", "a+")  # noqa: SIM115 (held until release)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another harness"
        lock.close()
        raise UsageError(
            f"{holder} is running on this machine, and two runs at once measure each other: "
            "wait for it to end, or stop it"
        ) from None
    lock.truncate(0)
    lock.write(f"`bench {command}` (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})")
    lock.flush()
    _held = lock


def release() -> None:
    """Let the next harness measure (at the end of a command run in-process, as tests do)."""
    global _held
    if _held is not None:
        _held.close()
        _held = None
