"""Ctrl-C and SIGTERM: unwind once, cleanly, and never lose the request.

Python can swallow a KeyboardInterrupt raised at an awkward moment (inside a fork handler,
say); the request is remembered, and `check()` raises it again at the next safe point.
Signals after the first are ignored, so they cannot cut the cleanup short.
"""

import signal

_requested = False


def _handler(signum: int, frame: object) -> None:
    global _requested
    if not _requested:
        _requested = True
        raise KeyboardInterrupt


def install() -> None:
    """Route SIGTERM, and SIGINT unless it is ignored (nohup), to one KeyboardInterrupt."""
    signal.signal(signal.SIGTERM, _handler)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _handler)


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt was requested (call at safe points)."""
    if _requested:
        raise KeyboardInterrupt
