"""The counted section of a report (`run --count`): server instructions per request per
variant, and in an A/B run head ÷ baseline with its verdict and smallest detectable change."""

from bench.analysis import counts
from bench.model.counts import Counted
from bench.model.plan import axis_value
from bench.model.results import Run
from bench.render.markdown import TIMES, fold, table
from bench.render.page import Page

COLUMN = "server instructions per request"
DATABASE = "database instructions per request"
VERDICTS = {
    "rose": "rose",
    "fell": "fell",
    "same": "no change beyond the threshold",
    "unknown": "cannot tell",
}


def ratio(value: float | None) -> str:
    """A count ratio to four decimals ("x1.0023"), or n/a."""
    return f"{TIMES}{value:.4f}" if value is not None else "n/a"


def instructions(value: float | None) -> str:
    """Instructions per request, whole, with thousands separators."""
    return f"{value:,.0f}" if value is not None else "n/a"


def percent(fraction: float | None) -> str:
    """A spread or threshold as a percentage ("0.27%")."""
    return f"{100 * fraction:.2f}%" if fraction is not None else "n/a"


def host_check(counted: Counted) -> str:
    """Whether the counted server checked the Host header, as its /health said ("-": it was
    not read back, or the server did not say)."""
    said = counted.reported.get("host_check")
    return axis_value(said) if isinstance(said, bool) else "-"


def judged(pair: counts.CountPair) -> str:
    """A pair's verdict in words, with its p."""
    said = VERDICTS[pair.direction]
    if pair.error:
        return f"cannot tell: {pair.error}"
    return f"{said} (p={pair.p:.2g})" if pair.p is not None else said


def how(run: Run) -> str:
    """What the counts are and how they were taken."""
    first = run.counts[0]
    lives = max(len(c.lives) for c in run.counts)
    per = first.lives[0].requests if first.lives else 0
    return (
        "Counted, not timed: each variant's server ran under `valgrind --tool=callgrind "
        f"--instr-atstart=no` ({first.valgrind}; the whole command is in results.json), "
        f"pinned to one CPU, at one connection; after {first.warmup_requests} uncounted "
        f"requests, counting was switched on (vgdb `instrumentation on`) for {per} requests "
        f"and off again, and the dump's `totals:` divided by the requests. Each of up to "
        f"{lives} lives is a fresh server; the figure is their geometric mean, the spread the "
        "standard deviation of their logs. Counts see the CPU work of the server's own "
        "process only: not waiting, I/O, cache misses or contention "
        "([methodology](../../docs/methodology.md#counted-runs))."
    )


def title(page: Page) -> str:
    """A counted run's heading."""
    return f"{page.heading('Counted run')}."


def section(page: Page) -> str:
    """The counted section, or "" for a run that counted nothing."""
    run = page.run
    if not run.counts:
        return ""
    if run.plan.baseline is not None:
        return _ab(run)
    in_db = _database(run)
    rows = [
        [c.variant, instructions(counts.side(c).per_request), percent(counts.side(c).spread),
         *([instructions(counts.database_side(c).per_request),
            percent(counts.database_side(c).spread)] if in_db else []),
         str(len(c.lives)), host_check(c),
         "; ".join(e for e in (c.error, c.database_error) if e)]
        for c in run.counts
    ]  # fmt: skip
    header = ["variant", COLUMN, "spread over lives"]
    header += [DATABASE, "spread (database)"] if in_db else []
    header += ["lives", "host check (/health)", "error"]
    parts = ["## Server instructions per request", table(header, rows)]
    return "\n\n".join([*parts, how(run), *_database_how(run)])


def _database(run: Run) -> bool:
    """Whether the run counted its database (`--count-database`)."""
    return any(c.database_command for c in run.counts)


def _database_how(run: Run) -> list[str]:
    """What the database's count is, for a run that took it."""
    if not _database(run):
        return []
    return [
        "Database instructions per request: the Postgres backends serving each server's own "
        "connections (found by their ports), the postmaster under the same callgrind with "
        "counting off, switched on and off in those backends with the server's; their dumps' "
        "`totals:` summed over the same requests. Postgres's other processes (checkpointer, "
        "WAL writer, I/O workers) are not counted. It has no verdict: a backend's plan cache "
        "may re-plan a prepared statement on every execution in one life and not in another "
        "([methodology](../../docs/methodology.md#the-databases-count)). With the database "
        "under valgrind its answers come later, which moves the servers' own counts (about "
        "1% for fastapi-async): compare such a run only with another that counted its "
        "database."
    ]


def _ab(run: Run) -> str:
    side = run.plan.baseline
    assert side is not None
    found = counts.pairs(run)
    given = run.count_threshold_pct
    parts = ["## Server instructions per request: head ÷ baseline", *_judged(found, given)]
    where = f"Head: this checkout; baseline: `{side.rev}` ({side.commit[:12]})."
    return "\n\n".join([*parts, how(run), *_database_how(run), where, *_functions(run)])


NAME_CHARS = 100


def _short(function: str) -> str:
    """A function's name cut in the middle to NAME_CHARS: Rust's generic names run to a
    thousand characters; their start and their object file stay."""
    if len(function) <= NAME_CHARS:
        return function
    return function[: NAME_CHARS - 41] + "…" + function[-40:]


def _functions(run: Run) -> list[str]:
    """Per variant, folded: the 10 functions whose own instructions per request changed most."""
    folds = []
    for head, base in counts.counted_pairs(run):
        found = counts.moved(head, base)
        if not found:
            continue
        rows = [
            [
                _short(m.function),
                instructions(m.head),
                instructions(m.baseline),
                f"{m.change:+,.0f}",
            ]
            for m in found
        ]
        header = ["function (object file)", "head", "baseline", "change per request"]
        folds.append(fold(f"{head.variant}: the 10 functions that moved most", table(header, rows)))
    if not folds:
        return []
    intro = (
        "Where the instructions went: each function's own instructions per request "
        "(callgrind_annotate, exclusive), the mean over lives, among each life's "
        "300 costliest functions; an unnamed address is a stripped library's."
    )
    return [intro, *folds]


def across(a: Run, b: Run, found: list[counts.CountPair], given: float | None) -> str:
    """Two runs' counts, B against A, as `compare RUN_A RUN_B` prints them."""
    title = f"# Server instructions per request: run {b.run_id} ÷ run {a.run_id}"
    note = (
        "Counts, not time: the machine's move between the runs plays no part; both runs "
        "recorded the same CPU flags and versions of valgrind, the C library, Python, rustc "
        "and Postgres."
    )
    return "\n\n".join([title, note, *_judged(found, given, "B", "A")]) + "\n"


def _judged(
    found: list[counts.CountPair], given: float | None, new: str = "head", old: str = "baseline"
) -> list[str]:
    """The summary line, the table and how its verdicts are reached."""
    in_db = any(s.lives for p in found for s in p.database)
    rows = [
        [p.variant, instructions(p.head.per_request), instructions(p.baseline.per_request),
         ratio(p.ratio), judged(p), _detectable(p), percent(p.threshold),
         f"{percent(p.head.spread)} / {percent(p.baseline.spread)}",
         f"{len(p.head.lives)} / {len(p.baseline.lives)}",
         *([instructions(p.database[0].per_request), instructions(p.database[1].per_request),
            ratio(p.database_ratio),
            f"{percent(p.database[0].spread)} / {percent(p.database[1].spread)}"]
           if in_db else [])]
        for p in found
    ]  # fmt: skip
    header = [
        "variant",
        f"{COLUMN} ({new})",
        f"({old})",
        f"{new} ÷ {old}",
        "verdict",
        "smallest detectable change",
        "threshold",
        f"spread {new} / {old}",
        "lives",
    ]
    header += (
        [f"{DATABASE} ({new})", f"({old})", f"{new} ÷ {old}", f"spread {new} / {old}"]
        if in_db
        else []
    )
    flagged = [f"{p.variant} ({p.direction})" for p in found if p.flagged]
    summary = (
        f"**Counts moved beyond the threshold in {', '.join(flagged)}**; in no other variant."
        if flagged
        else f"**No count moved beyond its threshold** in any of the {len(found)} variants."
    )
    rule = (
        f"the threshold given, {given:g}%"
        if given is not None
        else "by default each variant's smallest detectable change, never below "
        f"{100 * counts.MIN_THRESHOLD:g}%"
    )
    verdict = (
        f"Verdict: Student's t on the logs of the lives, *rose* or *fell* when p < "
        f"{counts.ALPHA:g} and the change exceeds {rule}. Smallest detectable change: what "
        "that test detects in 80% of runs with this spread and these lives."
    )
    return [summary, table(header, rows), verdict]


def _detectable(pair: counts.CountPair) -> str:
    return f"{TIMES}{pair.detectable:.4f}" if pair.detectable is not None else "n/a"
