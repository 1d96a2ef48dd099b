"""Ctrl-C, SIGTERM and SIGHUP: unwind once, cleanly, and never lose the request.

Python can swallow a KeyboardInterrupt raised at an awkward moment (inside a fork handler,
say); the request is remembered, and `check()` raises it again at the next safe point.
Signals after the first are ignored, so they cannot cut the cleanup short; and a step that
must not be cut in half (starting a child and recording it, stopping one) runs `deferred()`:
a first signal arriving there is raised when the step is done.
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager

_requested = False
_deferring = 0


def _handler(signum: int, frame: object) -> None:
    global _requested
    if not _requested:
        _requested = True
        if not _deferring:
            raise KeyboardInterrupt


def install() -> None:
    """Route SIGTERM, and SIGINT and SIGHUP unless ignored (nohup), to one KeyboardInterrupt."""
    signal.signal(signal.SIGTERM, _handler)
    for sig in (signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _handler)


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt was requested (call at safe points)."""
    if _requested:
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a first signal while the block runs; raise it as KeyboardInterrupt at its end."""
    global _deferring
    before = _requested
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if _requested and not before and not _deferring:
        raise KeyboardInterrupt
