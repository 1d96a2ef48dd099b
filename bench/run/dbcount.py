"""The database's count of a counted life (`run --count --count-database`): the instructions
of the Postgres backends serving one server's connections, over the server's counted window.

The run's throwaway cluster runs its postmaster under callgrind with counting off
(`bench.sut.cluster`); each backend it forks inherits valgrind. After the warm-up, the
server's own backends are found by its connections' local ports (two lanes' servers share
the database), switched on with vgdb beside the server, switched off and dumped after the
load; their dumps' `totals:` are summed. A connection the server opens inside the window
would be served by a backend left uncounted: the count is refused then, in words.
"""

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from bench.errors import BenchError
from bench.load import processes, valgrind
from bench.model.counts import DatabaseCount
from bench.sut.database import Database


def counted(db: Database) -> bool:
    """Whether `db` is a cluster whose backends run under callgrind."""
    return db.cluster is not None and db.cluster.counted_by is not None


class Backends:
    """The backends of one server's database connections, over one counted window; a failure
    is kept as `error` (the server's own count stands without it)."""

    def __init__(self, valgrind_path: Path, db: Database, server_pid: int) -> None:
        """Backends of `server_pid`'s tree on `db` (a counted cluster)."""
        self.valgrind = valgrind_path
        self.db = db
        self.server_pid = server_pid
        self.user = db.cluster.user if db.cluster else None  # vgdb runs as the backends' account
        self.pids: list[int] = []
        self.error: str | None = None

    def _find(self) -> list[int]:
        if self.db.postmaster_pid is None:
            raise BenchError("the database's postmaster is not known")
        port = urlsplit(self.db.url).port or 5432
        return processes.peers(self.server_pid, self.db.postmaster_pid, port)

    def on(self) -> None:
        """Find the server's backends and switch counting on in each."""
        try:
            self.pids = self._find()
            if not self.pids:
                raise BenchError(f"no database backend serves the server (pid {self.server_pid})")
            valgrind.monitor_each(self.valgrind, self.pids, "instrumentation on", self.user)
        except (BenchError, OSError) as exc:
            self.error = f"database not counted: {exc}"

    def off(self, requests: int, keep: Path) -> DatabaseCount | None:
        """Switch counting off in the backends and dump them; their summed `totals:` (the dumps
        copied into `keep`), or None with `error` set."""
        if self.error is not None:
            return None
        try:
            valgrind.monitor_each(self.valgrind, self.pids, "instrumentation off", self.user)
            valgrind.monitor_each(self.valgrind, self.pids, "dump", self.user)
            if opened := sorted(set(self._find()) - set(self.pids)):
                raise BenchError(
                    f"the server opened {len(opened)} database connection(s) inside the "
                    "counted window, whose backends counted nothing"
                )
            instructions = sum(self._totals(pid, keep) for pid in self.pids)
        except (BenchError, OSError) as exc:
            self.error = f"database not counted: {exc}"
            return None
        return DatabaseCount(instructions=instructions, backends=len(self.pids), requests=requests)

    def _totals(self, pid: int, keep: Path) -> int:
        assert self.db.cluster is not None
        dumps = valgrind.dumps(self.db.cluster.dumps, pid)
        if not dumps:
            raise BenchError(f"backend {pid} wrote no dump")
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dumps[-1], keep / dumps[-1].name)
        return valgrind.totals(dumps[-1])
