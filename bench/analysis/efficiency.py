"""What a request costs: CPU per request for every role, and throughput per MiB of memory.

From each repeat's CPU seconds per role (processes counted from birth, with the children they
reaped; `bench.load.sampling`) over the requests answered in that repeat. The database's cost
per request is set against its cost per pgbench transaction of the same query (the database
ceiling, sampled alike): what the server's driver and pool add beyond the query itself.
"""

from bench.analysis import stats
from bench.model.results import Cell, Repeat, Run
from bench.model.roles import Role


def cpu_ms_per_request(repeat: Repeat, role: Role) -> float | None:
    """`role`'s CPU milliseconds per answered request in `repeat`."""
    usage, answered = repeat.usage.get(role), repeat.load.ok + repeat.load.non_2xx
    used = usage.cpu_s if usage else None
    return 1000.0 * used / answered if used is not None and answered else None


def median_cpu_ms(cell: Cell, role: Role) -> float | None:
    """`role`'s median CPU milliseconds per request over the cell's repeats."""
    return stats.median_over_repeats(cell, lambda r: cpu_ms_per_request(r, role))


def server_peak_mib(repeat: Repeat) -> float | None:
    """The server's peak memory (RSS, MiB) in `repeat`."""
    usage = repeat.usage.get("server")
    return usage.peak_rss_mib if usage else None


def rps_per_mib(repeat: Repeat) -> float | None:
    """Good responses per second per MiB of the server's peak memory (RSS)."""
    peak = server_peak_mib(repeat)
    return repeat.load.rps / peak if peak else None


def pgbench_ms_per_transaction(run: Run) -> float | None:
    """The database's CPU milliseconds per pgbench transaction in the run's database ceiling."""
    probe = next((p for p in run.probes if p.name == "database" and p.error is None), None)
    if probe is None:
        return None
    used, done = probe.values.get("database_cpu_s"), probe.values.get("transactions")
    return 1000.0 * used / done if used is not None and done else None


def over_pgbench(cell: Cell, run: Run) -> float | None:
    """The cell's database CPU per request ÷ the database's CPU per pgbench transaction."""
    per_tx = pgbench_ms_per_transaction(run)
    per_request = median_cpu_ms(cell, "database")
    return per_request / per_tx if per_request is not None and per_tx else None
