"""The live view: in a pseudo-terminal, a panel of what each role uses now (from the running
sampler) under the progress line; without a terminal, one line per finished repeat."""

import fcntl
import os
import pty
import re
import socket
import struct
import subprocess
import sys
import termios

import pytest

from bench.run.progress import loopback

# A stand-in run: a busy "server" sampled while the view refreshes, one repeat done.
SCRIPT = """
import subprocess, sys, time
from bench.load.sampling import Sampler
from bench.run.progress import RunProgress
busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
try:
    with RunProgress(2) as progress, Sampler({"server": busy.pid}):
        progress.phase("fastapi-async c=10", "repeat 1/2: measuring")
        time.sleep(3)
        progress.phase("fastapi-async c=10", "done")
        progress.phase("fastapi-async c=10", "repeat 2/2: measuring")
        time.sleep(1)
finally:
    busy.kill()
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _in_a_terminal(script: str) -> str:
    """Run `script` with stdout on a 160-column pseudo-terminal; all it wrote, ANSI removed."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=child, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=30)
    os.close(main)
    return ANSI.sub("", b"".join(chunks).decode(errors="replace"))


@pytest.mark.slow  # a stand-in run of four seconds
def test_the_live_panel_shows_each_role_from_the_running_sampler() -> None:
    text = _in_a_terminal(SCRIPT)
    assert "[1/2] fastapi-async c=10: repeat 1/2: measuring" in text
    assert "CPU (% of one)" in text and "memory (MiB)" in text
    rows = re.findall(r"server\s+(\d+)\s+(\d+)\s+1\b", text)
    assert rows and max(int(cpu) for cpu, _ in rows) >= 20, text[-2000:]  # the busy loop
    assert "requests/s (estimated: new TCP connections/s" in text
    cost = re.search(r"live view: ([\d.]+)% of one CPU", text)
    assert cost, text[-500:]


@pytest.mark.slow  # a stand-in run of four seconds
def test_without_a_terminal_one_line_per_finished_repeat() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].endswith("[1/2] fastapi-async c=10: done"), lines


def test_loopback_counts_a_new_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        before, _ = loopback()
        for _ in range(5):
            with socket.create_connection(server.getsockname()):
                conn, _ = server.accept()
                conn.close()
        after, _ = loopback()
    assert after - before >= 5
