"""Server variants: how each one's isolated virtualenv is built, and how it is started."""

import fcntl
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.load import processes
from bench.model.plan import Params
from bench.paths import cargo_target, variants_dir
from bench.plan.matrix import Variant, is_baseline, runtime
from bench.plan.topology import HERE, Place
from bench.sut import locks
from bench.sut.cluster import free_port
from bench.sut.database import Database

HEALTH_TIMEOUT_S = 60.0


def _uv(*args: str) -> None:
    """Run uv (a dependency of the harness) and fail with its last line of output."""
    result = subprocess.run([sys.executable, "-m", "uv", *args], capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise BenchError(f"uv {args[0]} {args[1] if len(args) > 1 else ''} failed: {lines[-1:]}")


def build(variant: Variant) -> Path:
    """Create or update the variant's venv from its lock and install the server; return it.

    A Python venv is synced to exactly its lock (hashes required; anything else is removed),
    then the variant's project is installed from its folder without dependencies. The Rust
    venv holds only the wheel that cargo (with the crate's Cargo.lock) and maturin built.
    """
    python = str(variant.venv / "bin" / "python")
    if not Path(python).exists():
        _uv("venv", "--quiet", "--python", sys.executable, str(variant.venv))
    if variant.python:
        lock = locks.lock_file(variant)
        if not lock.exists():
            raise BenchError(f"{variant.name} has no lock {lock}: run `nox -s lock`")
        _uv("pip", "sync", "--quiet", "--python", python, "--require-hashes", str(lock))
        _install(python, variant.folder)
    else:  # a folder of its own: two builds at once (two checkouts, a test) never share one
        with tempfile.TemporaryDirectory(prefix=f"wheel-{variant.name}-") as out:
            _install(python, build_rust_wheel(variant, Path(out)))
    if not variant.executable.exists():
        raise BenchError(f"{variant.name}: build produced no {variant.executable}")
    return variant.venv


def _install(python: str, source: Path) -> None:
    """Install the variant's project (a folder or a wheel) into its venv, without dependencies."""
    _uv("pip", "install", "--quiet", "--python", python, "--no-deps", "--reinstall", str(source))


def build_rust_wheel(variant: Variant, out: Path) -> Path:
    """Build a Rust variant's wheel into `out` with maturin, in its crate's own cargo target
    folder (bench.paths.cargo_target), one build of it at a time: cargo locks the folder while
    it compiles, but maturin moves the binary out once cargo lets go."""
    maturin = Path(sys.executable).with_name("maturin")
    target = cargo_target(variant.folder)
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CARGO_TARGET_DIR": str(target)}
    manifest = str(variant.folder / "Cargo.toml")
    cmd = [str(maturin), "build", "--release", "--quiet", "--out", str(out)]
    with open(target / "bench-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        result = subprocess.run(
            [*cmd, "--manifest-path", manifest], env=env, capture_output=True, text=True
        )
    wheels = sorted(out.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BenchError(f"cargo/maturin build of {variant.path} failed:\n" + "\n".join(tail))
    return wheels[-1]


@dataclass
class Server:
    """A running server variant."""

    variant: Variant
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    place: Place = HERE

    @property
    def pid(self) -> int:
        """The server's main process id."""
        return self.proc.pid

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1])


def server_command(
    variant: Variant, port: int, params: Params | None = None, host: str = "127.0.0.1"
) -> list[str]:
    """The command line that starts `variant` under the cell's runtime and workers, listening
    on `host` (its place's address).

    Settings for the app go in the environment (server_env), not argv; the Rust binary also
    takes its pool size as an option.
    """
    address = ["--host", host, "--port", str(port)]
    if not variant.python:
        return [
            str(variant.executable),
            *address,
            "--pool-size",
            server_env(variant, params)["POOL_SIZE"],
        ]
    name = params.runtime if params and params.runtime else variant.runtime
    workers = str(params.workers if params and params.workers else 1)
    declared = runtime(name)
    python = str(variant.executable)
    if declared["server"] == "granian":
        granian = [python, "-m", "granian", "--interface", "asgi", *address, "--workers", workers]
        granian += ["--runtime-threads", "1", "--loop", declared["loop"], "--http", "1"]
        granian += ["--no-ws", "--log-level", "warning", "--no-access-log"]
        return [*granian, "--factory", variant.app]
    uvicorn = [python, "-m", "uvicorn", "--factory", variant.app, *address, "--workers", workers]
    uvicorn += ["--loop", declared["loop"], "--http", declared["http"]]
    return [*uvicorn, "--log-level", "warning", "--no-access-log"]


def server_env(variant: Variant, params: Params | None) -> dict[str, str]:
    """The app's settings: the variant's own `env`, POOL_SIZE (5 unless the cell says
    otherwise), HOST_CHECK (on unless the cell says off) and POOL_OVERFLOW where the variant's
    pool has one."""
    env = {**dict(variant.env), "POOL_SIZE": str(params.pool if params else 5)}
    env["HOST_CHECK"] = "off" if params and not params.host_check else "on"
    if variant.overflow:
        env["POOL_OVERFLOW"] = str(params.overflow or 0) if params else "0"
    return env


@contextmanager
def running(
    variant: Variant,
    db: Database,
    *,
    params: Params | None = None,
    port: int | None = None,
    cpus: Collection[int] | None = None,
    log_path: Path | None = None,
    append: bool = False,
    place: Place = HERE,
    wrap: Callable[[list[str]], list[str]] | None = None,
    health_timeout: float = HEALTH_TIMEOUT_S,
) -> Iterator[Server]:
    """Start the variant (pinned to `cpus`, in `place`: its network namespace and address),
    wait until /health answers 200 (asked from the calling thread's namespace), stop it
    afterwards.

    It is given the database's URL, passfile and schema in its environment, never in its
    argv. Its output goes to `log_path` (appended to with `append`). `wrap` turns its
    command into another's (valgrind's), which may take `health_timeout` to answer."""
    if not variant.executable.exists():
        how = (
            "the run without --no-build"  # a baseline is built by its run only
            if is_baseline(variant.name)
            else "`nox -s build` (python -m bench build)"
        )
        raise BenchError(f"{variant.name} is not built: run {how}")
    port = port or free_port()
    log_path = log_path or variants_dir() / "logs" / f"{variant.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**db.client_env(), "DATABASE_URL": db.url, **server_env(variant, params)}
    with open(log_path, "ab" if append else "wb") as log:
        cmd = server_command(variant, port, params, place.address)
        cmd = wrap(cmd) if wrap else cmd
        proc = processes.start(cmd, cpus=cpus, env=env, log=log, netns=place.netns)
    server = Server(variant, f"http://{place.address}:{port}", proc, log_path, place)
    try:
        wait_healthy(server, health_timeout)
        yield server
    finally:
        processes.stop(proc)


def wait_healthy(server: Server, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Poll GET /health until 200; fail with the server's last log lines on exit or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(
                f"{server.variant.name} exited with code {server.proc.returncode} "
                f"before becoming healthy: {_tail(server.log)}"
            )
        try:
            with urllib.request.urlopen(request(f"{server.url}/health"), timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise BenchError(
        f"{server.variant.name} did not answer /health within {timeout:.0f} s: {_tail(server.log)}"
    )


def request(url: str) -> urllib.request.Request:
    """A GET of `url` naming 127.0.0.1 as its Host (its port kept): the servers answer only
    requests that name it (their guard against DNS rebinding), also when they are reached at
    their network namespace's address."""
    parts = urllib.parse.urlsplit(url)
    return urllib.request.Request(url, headers={"Host": f"127.0.0.1:{parts.port}"})


def _tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"
