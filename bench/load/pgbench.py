"""pgbench, the database ceiling: the benchmark query alone, as fast as Postgres answers it.

It runs exactly what the servers run: the prepared statement with the limit bound as a
parameter (`-M prepared`, `LIMIT :limit`), from `clients` connections (the servers' pool),
for a fixed time. Its client plays the server's part, so it is pinned where the servers run.
"""

import re
from pathlib import Path

from bench.errors import BenchError

SCRIPT = '\\set limit {limit}\nSELECT * FROM "users" ORDER BY user_id LIMIT :limit;\n'


def script(path: Path, limit: int) -> Path:
    """Write the pgbench script for `limit` rows per query to `path`; return it."""
    path.write_text(SCRIPT.format(limit=limit))
    return path


def command(pgbench: Path, url: str, script_file: Path, clients: int, seconds: float) -> list[str]:
    """`pgbench -n -M prepared -c CLIENTS -j 1 -T SECONDS -f SCRIPT URL` (whole seconds, >= 1)."""
    duration = str(max(1, round(seconds)))
    options = ["-n", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", duration]
    return [str(pgbench), *options, "-f", str(script_file), url]


def parse(text: str) -> dict[str, float]:
    """tps (without the initial connection time), mean latency (ms), transactions, failures."""
    found = {
        "tps": r"^tps = ([\d.]+) \(without initial connection time\)",
        "latency_mean_ms": r"^latency average = ([\d.]+) ms",
        "transactions": r"^number of transactions actually processed: (\d+)",
        "failed": r"^number of failed transactions: (\d+)",
    }
    values = {k: re.search(rx, text, re.MULTILINE) for k, rx in found.items()}
    if values["tps"] is None or values["transactions"] is None:
        raise BenchError(f"pgbench printed no result: {text.strip()[-200:]}")
    return {k: float(m[1]) for k, m in values.items() if m}
