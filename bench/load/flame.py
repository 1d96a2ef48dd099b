"""The profilers and the flamegraph renderer: where they are, their command lines, and runs
of them pinned and bounded in time.

- py-spy (a dependency of the harness) samples a Python server's stacks and writes them
  folded (`record -f raw`), worker processes included (`--subprocesses`);
- perf (Debian's linux-perf) samples a native server on the `cpu-clock` software event
  (no hardware counters needed) with DWARF call graphs; `perf script` prints the samples
  and inferno-collapse-perf folds them;
- inferno (crates.io) draws the SVG: `cargo install`ed once into the user cache, like oha.
"""

import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import IO

from bench.errors import BenchError, first_line
from bench.load import cargo, processes
from bench.paths import cache_dir

INFERNO_VERSION = "0.12.8"
RATE_HZ = {"py-spy": 100, "perf": 999}  # py-spy's own default; perf's usual odd rate
TOOL_GRACE_S = 60.0  # beyond the recording's own length, before a stalled tool is stopped
PARANOID = Path("/proc/sys/kernel/perf_event_paranoid")
# No `period`: inferno would count each sample as its period (ns of cpu-clock), not as one.
SCRIPT_FIELDS = "comm,pid,tid,time,event,ip,sym,dso"


def py_spy() -> Path:
    """py-spy beside the harness's Python (its venv), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = beside if beside.is_file() else shutil.which("py-spy")
    if not found:
        raise BenchError("py-spy is not installed: install the harness's lock (nox does)")
    return Path(found)


def seconds_recorded(profiler: str, seconds: float) -> float:
    """How long `profiler` records when asked for `seconds`: py-spy takes whole seconds."""
    return float(max(1, math.ceil(seconds))) if profiler == "py-spy" else seconds


def py_spy_command(py_spy: Path, pid: int, rate: int, seconds: float, out: Path) -> list[str]:
    """py-spy recording `pid` and its children for `seconds` (rounded up to whole seconds)
    into folded stacks at `out`."""
    whole = f"{seconds_recorded('py-spy', seconds):.0f}"
    cmd = [str(py_spy), "record", "-f", "raw", "--subprocesses", "-r", str(rate), "-d", whole]
    return [*cmd, "--pid", str(pid), "-o", str(out)]


def perf() -> Path | None:
    """The perf named by $PERF, else perf on PATH, or None."""
    found = os.environ.get("PERF") or shutil.which("perf")
    return Path(found) if found else None


def perf_refusal(perf: Path | None) -> str | None:
    """Why perf cannot sample here, in one line (missing, or the kernel refuses perf events),
    or None when a one-shot `perf record -e cpu-clock` works."""
    if perf is None or not os.access(perf, os.X_OK):
        return f"perf is not installed (Debian: apt-get install linux-perf){_named(perf)}"
    with tempfile.TemporaryDirectory(prefix="pybench-perf-") as tmp:
        cmd = [str(perf), "record", "-q", "-e", "cpu-clock", "-o", f"{tmp}/probe.data"]
        try:
            processes.run([*cmd, "--", "true"], timeout=30)
        except subprocess.CalledProcessError as exc:
            lines = [ln.strip() for ln in (exc.stderr or exc.stdout or "").splitlines()]
            said = next((ln for ln in lines if ln), f"exit code {exc.returncode}")
            return f"perf cannot sample here: {said} (perf_event_paranoid {_paranoid()})"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"perf cannot sample here: {first_line(exc)}"
    return None


def _named(perf: Path | None) -> str:
    return f"; PERF={perf} is no executable" if perf is not None else ""


def _paranoid() -> str:
    with contextlib.suppress(OSError):
        return PARANOID.read_text().strip()
    return "unknown"


def perf_record_command(perf: Path, pid: int, rate: int, seconds: float, out: Path) -> list[str]:
    """perf sampling every thread of `pid` on the cpu-clock software event at `rate` Hz, with
    DWARF call graphs, for `seconds` (the length of a `sleep` it runs), into `out`."""
    cmd = [str(perf), "record", "-q", "-e", "cpu-clock", "-F", str(rate), "--call-graph", "dwarf"]
    return [*cmd, "-p", str(pid), "-o", str(out), "--", "sleep", f"{seconds:g}"]


def fold_perf(perf: Path, data: Path, out: Path, cpus: Collection[int] | None) -> None:
    """`perf script` of `data`, folded by inferno-collapse-perf into `out` (the script's text
    passes through a file beside `out`, removed afterwards)."""
    script = out.with_suffix(".perf-script")
    try:
        run_to([str(perf), "script", "-F", SCRIPT_FIELDS, "-i", str(data)], script, cpus)
        run_to([str(inferno("inferno-collapse-perf")), "--kernel", str(script)], out, cpus)
    finally:
        script.unlink(missing_ok=True)


def svg(folded: Path, out: Path, title: str, cpus: Collection[int] | None) -> None:
    """Draw the flamegraph of `folded` into `out` with inferno-flamegraph."""
    cmd = [str(inferno("inferno-flamegraph")), "--title", title, "--countname", "samples"]
    run_to([*cmd, str(folded)], out, cpus)


def inferno(tool: str, install: bool = True) -> Path:
    """An inferno tool (inferno-flamegraph, inferno-collapse-perf) from PATH or the cache;
    otherwise `cargo install` the pinned version once into the cache."""
    cached = cache_dir() / "inferno" / "bin" / tool
    for candidate in (shutil.which(tool), cached):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    if not install:
        raise BenchError(f"{tool} not found: put inferno on PATH or let the harness install it")
    _install(cached.parent.parent)
    return cached


def _install(root: Path) -> None:
    print(f"installing inferno {INFERNO_VERSION} with cargo into {root} (once)", flush=True)
    cargo.install("inferno", INFERNO_VERSION, root)


def record(cmd: Sequence[str], seconds: float, cpus: Collection[int] | None) -> str:
    """Run a profiler's recording `cmd` (it stops by itself after `seconds`) pinned to
    `cpus`; return its CPUs as read back from /proc. Its failure is a BenchError with its
    last words."""
    with tempfile.TemporaryFile() as out:
        late = f"did not stop within {TOOL_GRACE_S:g} s"
        return _bounded(cmd, cpus, seconds + TOOL_GRACE_S, late, out)


def run_to(cmd: Sequence[str], out: Path, cpus: Collection[int] | None) -> None:
    """Run `cmd` pinned to `cpus` with its standard output into the file `out`, bounded in
    time; its failure is a BenchError with its last words."""
    with open(out, "wb") as log, tempfile.TemporaryFile() as err:
        _bounded(cmd, cpus, TOOL_GRACE_S * 5, "did not finish within 5 minutes", log, err)


def _bounded(
    cmd: Sequence[str],
    cpus: Collection[int] | None,
    timeout: float,
    late: str,
    log: IO[bytes],
    errors: IO[bytes] | None = None,
) -> str:
    """Run `cmd` pinned, output to `log` (stderr to `errors` if given), for at most `timeout`
    seconds; its CPUs read back from /proc. A BenchError naming it says it was `late`, or
    gives its exit code and the last lines of its errors (else of its log)."""
    name = Path(cmd[0]).name
    proc = processes.start(cmd, cpus=cpus, log=log, errors=errors)
    try:
        pinned = processes.cpus_allowed(proc.pid)
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{name} {late}") from None
    finally:
        processes.stop(proc)
    if code != 0:
        said = errors or log
        said.seek(0)
        raise BenchError(
            f"{name} exited with code {code}: {_tail(said.read().decode('utf-8', 'replace'))}"
        )
    return pinned


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-2:]) or "(no output)"
