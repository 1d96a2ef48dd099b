"""oha, the load generator: locate or install it, build its command line, parse its JSON.

oha counts 5xx responses and connection errors into successRate and requestsPerSec;
`parse` counts only 2xx responses as good requests and reports the rest separately.
"""

import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import KW_ONLY, dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchError, UsageError
from bench.load import cargo
from bench.model.plan import DEFAULT_LIMIT, Measure, Params
from bench.model.results import FAILURE_THRESHOLD, LoadResult, OpenLoop
from bench.paths import cache_dir

OHA_VERSION = "1.15.0"
PERCENTILES = ("p50", "p90", "p99", "p99.9")
NOTE = (
    "oha sizes its worker threads from the machine's physical core count and ignores "
    "CPU affinity: pinned to fewer CPUs, its threads share them"
)


def locate(install: bool = True) -> Path:
    """oha from $OHA, PATH or the cache; otherwise `cargo install` the pinned version once.

    An oha older than OHA_VERSION (no `--output-format json`) on PATH is passed over;
    one named by $OHA is refused.
    """
    if env := os.environ.get("OHA"):
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise UsageError(f"OHA={env} is not an executable file; unset OHA or point it at oha")
        if not recent(Path(env)):
            raise UsageError(
                f"OHA={env} is {version(Path(env)) or 'not oha'}; this harness needs oha >= "
                f"{OHA_VERSION}: unset OHA to let it install one"
            )
        return Path(env)
    cached = cache_dir() / "oha" / "bin" / "oha"
    for candidate in (shutil.which("oha"), cached):
        if candidate and Path(candidate).is_file() and recent(Path(candidate)):
            return Path(candidate)
    if not install:
        raise BenchError("oha not found: set OHA, put oha on PATH, or let the harness install it")
    return _install(cached.parent.parent)


def recent(oha: Path) -> bool:
    """Whether `oha --version` says OHA_VERSION or newer."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", version(oha))
    wanted = tuple(int(n) for n in OHA_VERSION.split("."))
    return match is not None and tuple(int(n) for n in match.groups()) >= wanted


def tls_features() -> list[str]:
    """The TLS oha is built with: the system's OpenSSL where pkg-config finds it (the harness
    never speaks TLS, and oha needs one TLS feature to compile), else oha's default, rustls
    with aws-lc, whose C build takes longer."""
    try:
        found = subprocess.run(["pkg-config", "--exists", "openssl"]).returncode == 0
    except FileNotFoundError:
        found = False
    return ["--no-default-features", "--features", "native-tls"] if found else []


def _install(root: Path) -> Path:
    features = tls_features()
    tls = "the system's OpenSSL" if features else "rustls"
    print(f"installing oha {OHA_VERSION} with {tls}, by cargo into {root} (once)", flush=True)
    cargo.install("oha", OHA_VERSION, root, *features, needs=" (needs make and cmake)")
    return root / "bin" / "oha"


def version(oha: Path) -> str:
    """The first line of `oha --version`, e.g. "oha 1.15.0" ("" when it does not answer)."""
    try:
        out = subprocess.run([str(oha), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return next(iter(out.stdout.strip().splitlines()), "")


def url(base: str, params: Params) -> str:
    """The endpoint a cell loads: GET /users as published, with ?limit=N for other sizes."""
    return (
        f"{base}/users" if params.limit == DEFAULT_LIMIT else f"{base}/users?limit={params.limit}"
    )


@dataclass(frozen=True)
class Invocation:
    """What one oha run loads and how: a closed loop at the cell's concurrency, or, with
    `open_loop`, its offered rate; `duration_s` replaces the measured duration or request
    count (warmups, probes, soak bursts); with `record`, every request goes to that SQLite file.
    """

    target: str
    params: Params
    measure: Measure
    _: KW_ONLY
    duration_s: float | None = None
    open_loop: OpenLoop | None = None
    record: Path | None = None
    host: str | None = None  # the Host header, when the target's address is not its name

    def warmup(self, seconds: float) -> "Invocation":
        """The same load for `seconds`, recording nothing: the warmup before this run."""
        return replace(self, duration_s=seconds, record=None)


def command(oha: Path, run: Invocation) -> list[str]:
    """The oha command line for `run`: a closed loop at the cell's concurrency, or, with an
    open loop, its offered rate (`-q`) with latency from each request's intended send time
    (`--latency-correction`) over the connections Little's law asked for; `--db-url` when
    the run records every request."""
    connections = run.open_loop.connections if run.open_loop else run.params.concurrency
    cmd = [str(oha), "--no-tui", "--output-format", "json", "-c", str(connections)]
    if run.open_loop:
        cmd += ["-q", f"{run.open_loop.offered_rps:.1f}", "--latency-correction"]
    seconds = run.duration_s or run.measure.duration_s
    if seconds:
        cmd += ["-z", f"{seconds:g}s", "-w"]  # -w: in-flight requests finish, not counted as errors
    elif run.measure.requests:
        cmd += ["-n", str(run.measure.requests)]
    else:
        raise UsageError("a measurement needs a duration or a request count")
    if not run.params.keepalive:
        cmd.append("--disable-keepalive")
    if run.record:
        cmd += ["--db-url", str(run.record)]
    if run.host:
        cmd += ["--host", run.host]
    return [*cmd, run.target]


def parse(text: str) -> LoadResult:
    """Parse oha's JSON output into a LoadResult counting only 2xx responses as good."""
    try:
        data: dict[str, Any] = json.loads(text)
        summary = data["summary"]
        codes = {str(k): int(v) for k, v in data["statusCodeDistribution"].items()}
        errors = {str(k): int(v) for k, v in data["errorDistribution"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BenchError(f"oha printed something that is not its JSON report: {exc}") from None
    ok = sum(n for code, n in codes.items() if code.startswith("2"))
    duration = float(summary["total"])
    percentiles = data.get("latencyPercentiles") or {}
    latency = {p: _ms(percentiles.get(p)) for p in PERCENTILES}
    latency |= {k: _ms(summary.get(k)) for k in ("average", "fastest", "slowest")}
    return LoadResult(
        duration_s=duration,
        ok=ok,
        non_2xx=sum(codes.values()) - ok,
        errors=sum(errors.values()),
        rps=ok / duration if duration > 0 else 0.0,
        latency_ms={k: v for k, v in latency.items() if v is not None},
        status_codes=codes,
        error_kinds=errors,
    )


LITTLE_MARGIN = 2.0  # connections for twice the requests Little's law expects in flight
MAX_CONNECTIONS = 1000


def connections(rate: float, latency_s: float, at_least: int) -> int:
    """Connections for an open loop at `rate` requests/s whose answers take `latency_s` (a high
    percentile): Little's law (rate x latency in flight) with a margin, never fewer than the
    closed loop's `at_least`, at most MAX_CONNECTIONS. Too few, and the queue is oha's own."""
    in_flight = rate * latency_s * LITTLE_MARGIN
    return min(MAX_CONNECTIONS, max(at_least, math.ceil(in_flight)))


def judge(result: LoadResult) -> str | None:
    """Why a repeat failed (no 2xx at all, or non-2xx + errors above 0.1%), or None."""
    if result.ok and result.bad_fraction <= FAILURE_THRESHOLD:
        return None
    total = result.ok + result.non_2xx + result.errors
    return (
        f"{result.non_2xx} non-2xx and {result.errors} errors out of {total} requests "
        f"({100 * result.bad_fraction:.2f}% > {100 * FAILURE_THRESHOLD:g}%): "
        f"{result.status_codes} {result.error_kinds}"
    )


def _ms(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds) * 1000.0
