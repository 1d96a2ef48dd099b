"""valgrind (Debian's package), the counter of instructions: where it is, its version, the
command that starts a server under callgrind with counting off, the monitor commands that
switch counting on and off and dump the counters (through vgdb, as `callgrind_control`
does), and the `totals:` line of a dump.

Counting runs only between `instrumentation on` and `instrumentation off`: the server's
start, its warm-up and its idle time before and after the load count nothing. vgdb reaches
a server blocked in a system call through ptrace (`--max-invoke-ms`), so an idle tokio or
asyncio loop answers at once.
"""

import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.errors import BenchError, UsageError
from bench.load import processes

INSTALL = "valgrind is not installed: apt-get install valgrind (Debian/Ubuntu), or put it on PATH"
# Counting starts off (the start and the warm-up count nothing); no cache simulation.
OPTIONS = ("--tool=callgrind", "--instr-atstart=no")
MONITOR_TIMEOUT_S = 60.0


def locate() -> Path:
    """valgrind on PATH (and vgdb beside it), or a UsageError saying how to install it."""
    found = shutil.which("valgrind")
    if not found:
        raise UsageError(INSTALL)
    if not Path(found).with_name("vgdb").exists() and not shutil.which("vgdb"):
        raise UsageError(f"valgrind at {found} has no vgdb beside it: {INSTALL}")
    return Path(found)


def vgdb(valgrind: Path) -> Path:
    """vgdb beside `valgrind`, else on PATH."""
    beside = valgrind.with_name("vgdb")
    return beside if beside.exists() else Path(shutil.which("vgdb") or "vgdb")


def version(valgrind: Path) -> str:
    """`valgrind --version`, e.g. "valgrind-3.19.0" ("" when it does not answer)."""
    try:
        out = subprocess.run(
            [str(valgrind), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


# A child forked without exec keeps valgrind either way; with this it also gets a gdbserver
# of its own, which vgdb reaches by the child's pid (else vgdb finds "no FIFO").
FORKS = "--trace-children=yes"


def command(valgrind: Path, out_dir: Path, server: Sequence[str], forks: bool = False) -> list[str]:
    """`server` under callgrind, counting nothing until told, its dumps in `out_dir`
    (callgrind.out.PID, then .1, .2, ... per dump); with `forks`, each process it forks
    (a Postgres backend) can be told apart by vgdb and dumps under its own pid."""
    out = f"--callgrind-out-file={out_dir}/callgrind.out.%p"
    return [str(valgrind), *OPTIONS, *([FORKS] if forks else []), out, *server]


def monitor(valgrind: Path, pid: int, request: str, user: str | None = None) -> None:
    """Send a callgrind monitor command (`instrumentation on`, `dump`, ...) to the valgrind'ed
    process `pid` and wait for its answer; a BenchError with vgdb's last words otherwise.

    vgdb runs as `user`, the process's own account when it is not ours: vgdb as root hangs
    waiting for another account's process to answer (valgrind 3.19), as that account it
    does not."""
    cmd = [str(vgdb(valgrind)), f"--pid={pid}", *request.split()]
    try:
        processes.run(cmd, timeout=MONITOR_TIMEOUT_S, user=user)
    except subprocess.CalledProcessError as exc:
        said = " | ".join((exc.stderr or exc.stdout or "").strip().splitlines()[-2:])
        raise BenchError(f"vgdb {request!r} to {pid} failed: {said or exc.returncode}") from None
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"vgdb {request!r} to {pid} got no answer in {MONITOR_TIMEOUT_S:g} s"
        ) from None


def monitor_each(
    valgrind: Path, pids: Sequence[int], request: str, user: str | None = None
) -> None:
    """`monitor` each of `pids` (as `user`) at once: vgdb waits 100 ms before it wakes an
    idle process through ptrace, so one after the other would add that per process."""
    if not pids:
        return
    with ThreadPoolExecutor(max_workers=len(pids)) as pool:
        list(pool.map(lambda pid: monitor(valgrind, pid, request, user), pids))


def dumps(out_dir: Path, pid: int) -> list[Path]:
    """The numbered dumps of process `pid` in `out_dir`, in order (callgrind.out.PID.1, ...)."""
    found = out_dir.glob(f"callgrind.out.{pid}.*")
    return sorted(found, key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)


TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def totals(dump: Path) -> int:
    """The instructions a dump counted (its `totals:` line; its `summary:` stays 0 when
    counting started switched off)."""
    match = TOTALS.search(dump.read_text(errors="replace"))
    if match is None:
        raise BenchError(f"{dump.name} has no totals: line")
    return int(match.group(1))


def tail(log: Path, lines: int = 3) -> str:
    """The last lines of a valgrind'ed server's log (valgrind writes its own there too)."""
    text = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return " | ".join(ln.strip() for ln in text[-lines:]) or "(no output)"


KEPT_FUNCTIONS = 300  # per life: the costliest functions by their own instructions
# "file:function" with the file ("???" without debug info) before the first single colon;
# Rust's paths keep their "::" (serde_json::ser::...).
FILE = re.compile(r"^\S*?(?<!:):(?!:)")
ANNOTATED = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)(?:\s+\[(.+)\])?$")


def functions(valgrind: Path, dump: Path, kept: int = KEPT_FUNCTIONS) -> dict[str, int]:
    """The `kept` costliest functions of a dump by their own (exclusive) instructions, from
    `callgrind_annotate`: "function (object file)" -> instructions. Recursion levels (f'2)
    are summed into their function; the object is named by its file alone, so that the same
    library in two venvs (head, baseline) is one name."""
    annotate = valgrind.with_name("callgrind_annotate")
    tool = str(annotate) if annotate.exists() else "callgrind_annotate"
    cmd = [tool, "--threshold=100", "--inclusive=no", str(dump)]
    try:
        text = processes.run(cmd, timeout=MONITOR_TIMEOUT_S)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise BenchError(f"callgrind_annotate of {dump.name} failed: {exc}") from None
    found: dict[str, int] = {}
    for line in text.splitlines():
        match = ANNOTATED.match(line)
        if match is None or "PROGRAM TOTALS" in line:
            continue
        name = re.sub(r"'\d+$", "", FILE.sub("", match[2], count=1))
        where = f" ({Path(match[3]).name})" if match[3] else ""
        key = f"{name}{where}"
        found[key] = found.get(key, 0) + int(match[1].replace(",", ""))
    return dict(sorted(found.items(), key=lambda kv: -kv[1])[:kept])
