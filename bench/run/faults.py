"""Faults a run survives: a cell failing in any way, a database that dies between cells.

A cell's failure, whatever raised it (the harness's own errors, psutil, /proc, JSON, the
HTTP client), becomes that cell's error, one line with the tail of its server log; the
run goes on. A Ctrl-C still unwinds the whole run. Between cells the database is checked:
a local one that died is restarted once, and a second death, or an external database
that stops answering, stops the run with one line (RunStopped).
"""

from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError, first_line
from bench.sut import database
from bench.sut.database import Database

LOG_LINES = 3  # of the server log, in a failed cell's error


class RunStopped(BenchError):
    """The run stopped before its end (--fail-fast, a database lost for good)."""


def reason(exc: Exception) -> str:
    """Why something failed, in one line: the harness's own errors as they say it, any other
    exception with its type (`FileNotFoundError: [Errno 2] ...`)."""
    if isinstance(exc, BenchError):
        return " | ".join(line.strip() for line in str(exc).strip().splitlines()) or "failed"
    return f"{type(exc).__name__}: {first_line(exc)}"


def cell_error(exc: Exception, log: Path) -> str:
    """A failed cell's error: the reason and the last lines of its server log."""
    text = reason(exc)
    tail = log_tail(log)
    return f"{text} (server log: {tail})" if tail and tail not in text else text


def log_tail(log: Path, lines: int = LOG_LINES) -> str:
    """The last non-empty lines of a log joined by " | " ("" when there is none)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


class DatabaseWatch:
    """The database between cells: checked before each repeat, restarted once if local."""

    def __init__(self, db: Database, notes: list[str]) -> None:
        self.db = db
        self.notes = notes  # the run's metadata notes: a restart is recorded there
        self.restarted = False

    def check(self, before: str) -> Database:
        """The database to measure `before` against; RunStopped when it is lost for good."""
        if database.alive(self.db):
            return self.db
        where = f"the {self.db.provider} database at {self.db.safe_url}"
        if self.db.cluster is None:
            raise RunStopped(
                f"{where} stopped answering before {before}: the run stops here; "
                "resume it with --resume RUN_DIR once the database is back"
            )
        if self.restarted:
            raise RunStopped(f"{where} died a second time, before {before}: the run stops here")
        try:
            self.db = database.restart(self.db)
        except BenchError as exc:
            raise RunStopped(f"{where} died and could not be restarted: {reason(exc)}") from None
        self.restarted = True
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self.notes.append(
            f"the database died during the run and was restarted at {stamp} (postmaster pid "
            f"{self.db.postmaster_pid}), before {before}; the cells after it were measured "
            "against the restarted database"
        )
        return self.db
