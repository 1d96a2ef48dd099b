"""Server variants: what each is, how its isolated virtualenv is built, how it is started."""

import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import REPO, processes
from bench.database import free_port
from bench.errors import BenchError, UsageError
from bench.paths import cache_dir, variants_dir

MATRIX = Path(__file__).with_name("matrix.toml")
HEALTH_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Variant:
    """One server variant as declared in matrix.toml."""

    name: str
    kind: str  # "python" or "rust"
    command: str  # console script / binary in the variant's venv
    summary: str
    extra: str = ""  # pip extra of python_server for Python variants

    @property
    def venv(self) -> Path:
        """This variant's own virtualenv."""
        return variants_dir() / self.name

    @property
    def executable(self) -> Path:
        """The server's entry point inside its venv."""
        return self.venv / "bin" / self.command


def load_variants(path: Path = MATRIX) -> dict[str, Variant]:
    """All variants declared in the matrix file, by name, in file order."""
    table = tomllib.loads(path.read_text())["variants"]
    return {name: Variant(name=name, **spec) for name, spec in table.items()}


def select(names: str | Collection[str] | None) -> list[Variant]:
    """The variants named (comma-separated or a list), or all; unknown names are a UsageError."""
    known = load_variants()
    if names is None:
        return list(known.values())
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise UsageError(
            f"unknown variant {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"known variants: {', '.join(known)}"
        )
    return [known[n] for n in wanted]


def _uv(*args: str) -> None:
    """Run uv (a dependency of the harness) and fail with its last line of output."""
    result = subprocess.run([sys.executable, "-m", "uv", *args], capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise BenchError(f"uv {args[0]} {args[1] if len(args) > 1 else ''} failed: {lines[-1:]}")


def build(variant: Variant) -> Path:
    """Create or update the variant's venv and install the server into it; return the venv.

    An existing venv is reused; the server package is always reinstalled from source so the
    venv matches the checkout (cheap: Python builds take a second, cargo reuses its target dir).
    """
    python = variant.venv / "bin" / "python"
    if not python.exists():
        _uv("venv", "--quiet", "--python", sys.executable, str(variant.venv))
    if variant.kind == "python":
        source = f"{REPO / 'python_server'}[{variant.extra}]"
        package = "bench-fastapi"
    else:
        source = str(build_rust_wheel())
        package = "bench-axum"
    _uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "--reinstall-package",
        package,
        "--refresh-package",
        package,
        source,
    )
    if not variant.executable.exists():
        raise BenchError(f"{variant.name}: build produced no {variant.executable}")
    return variant.venv


def build_rust_wheel() -> Path:
    """Build the Axum server wheel with maturin, reusing a cargo target dir in the user cache."""
    out = cache_dir() / "wheels"
    shutil.rmtree(out, ignore_errors=True)
    maturin = Path(sys.executable).with_name("maturin")
    env = {**os.environ, "CARGO_TARGET_DIR": str(cache_dir() / "cargo-target")}
    cmd = [
        str(maturin),
        "build",
        "--release",
        "--quiet",
        "--out",
        str(out),
        "--manifest-path",
        str(REPO / "rust_server" / "Cargo.toml"),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wheels = sorted(out.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BenchError("cargo/maturin build of rust_server failed:\n" + "\n".join(tail))
    return wheels[-1]


@dataclass
class Server:
    """A running server variant."""

    variant: Variant
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The server's main process id."""
        return self.proc.pid


def server_command(variant: Variant, port: int, pool_size: int = 5) -> list[str]:
    """The command line that starts `variant`; the database URL goes in DATABASE_URL, not argv."""
    return [
        str(variant.executable),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--pool-size",
        str(pool_size),
    ]


@contextmanager
def running(
    variant: Variant,
    database_url: str,
    *,
    port: int | None = None,
    cpus: Collection[int] | None = None,
    log_dir: Path | None = None,
) -> Iterator[Server]:
    """Start the variant (pinned to `cpus`), wait until /health answers 200, stop it afterwards."""
    if not variant.executable.exists():
        raise BenchError(f"{variant.name} is not built: run `nox -s build` (python -m bench build)")
    port = port or free_port()
    log_dir = log_dir or variants_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{variant.name}.log"
    env = {**os.environ, "DATABASE_URL": database_url}
    with open(log_path, "wb") as log:
        proc = processes.start(server_command(variant, port), cpus=cpus, env=env, log=log)
    server = Server(variant, f"http://127.0.0.1:{port}", proc, log_path)
    try:
        wait_healthy(server)
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
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise BenchError(
        f"{server.variant.name} did not answer /health within {timeout:.0f} s: {_tail(server.log)}"
    )


def _tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"
