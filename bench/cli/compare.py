"""`python -m bench compare`: two runs cell by cell, or one A/B run's head against its
baseline, as Markdown for a pull request."""

import argparse
import os
import sys
from pathlib import Path

from bench.errors import UsageError
from bench.model import published, store
from bench.model.results import Run
from bench.run import runner


def results_file(given: Path) -> Path:
    """A run folder's results.json (or the file itself); anything else is a UsageError."""
    path = given / "results.json" if given.is_dir() else given
    if not path.is_file():
        raise UsageError(
            f"{given} is not a run folder (no results.json in it); "
            "pass reports/runs/<run> or its results.json"
        )
    return path


def _run_file(given: str) -> Path:
    """A RUN of `compare`: a run folder or its results.json, latest, or a reference's name."""
    latest = runner.RUNS.parent / "latest"
    if given == "latest" and not latest.exists():
        raise UsageError("latest: no run yet (reports/latest is missing); run `nox -s bench` first")
    path = latest if given == "latest" else Path(given)
    if path.exists():
        return results_file(path)
    references = published.references()
    if "/" not in given and given in references:
        return references[given]
    raise UsageError(
        f"{given!r} is no run folder, results.json or reference run; pass a path, latest, "
        f"or a reference: {', '.join(references) or 'none in reports/published/ yet'}"
    )


def _percent(text: str | None) -> float | None:
    """--fail-on-regression's PCT, a number in (0, 100]."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 100:  # also refuses nan
        raise UsageError(
            f"--fail-on-regression {text!r} is not a percentage in (0, 100]; give e.g. 5"
        )
    return value


def _out_file(out: Path | None) -> Path | None:
    """--out of `compare`: a file whose folder exists and is writable."""
    if out is None:
        return None
    folder = out.absolute().parent
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file, e.g. {out / 'compare.md'}")
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: no writable folder {folder}; create it or pass another")
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    """Run B against run A as Markdown (stdout, and --out); exit 1 on a regression past PCT."""
    pct, out = _percent(args.fail_on_regression), _out_file(args.out)
    given = [g for g in (args.run_a, args.run_b) if g is not None]
    runs = [store.load(_run_file(g)) for g in given]
    if len(runs) == 1 and runs[0].counts:
        return _compare_counted_ab(runs[0], given[0], pct, out)
    if len(runs) == 1:
        return _compare_ab(runs[0], given[0], pct, out)
    if any(r.counts for r in runs):
        return _compare_counts(runs[0], runs[1], pct, out)
    from bench.analysis import compare  # scipy loads only when runs are compared
    from bench.render.compare import render
    from bench.render.verdict import text

    comparison = compare.compare(*runs)
    found = compare.regressions(comparison, pct) if pct is not None else []
    return _emit(
        render(comparison),
        out,
        [
            f"{c.variant} {c.label}: {c.throughput.median_a:.0f} -> {c.throughput.median_b:.0f} "
            f"rps ({c.throughput.change_pct:+.1f}%, {text(c.throughput.verdict)})"
            for c in found
        ],
    )


def _compare_ab(run: Run, given: str, pct: float | None, out: Path | None) -> int:
    """`compare RUN` of one A/B run: head against baseline, as its report leads with."""
    if run.plan.baseline is None:
        raise UsageError(
            f"{given} is not an A/B run (it ran without --baseline); give two runs: RUN_A RUN_B"
        )
    from bench.analysis import ab  # scipy loads only when runs are compared
    from bench.render.ab import judged, ratio, section
    from bench.render.page import Page

    found = ab.regressions(ab.pairs(run), pct) if pct is not None else []
    return _emit(
        section(Page(run)) + "\n",
        out,
        [
            f"{p.variant} {p.label}: head ÷ baseline {ratio(p.throughput.ratio)} "
            f"({judged(p.throughput)})"
            for p in found
        ],
    )


def _compare_counted_ab(run: Run, given: str, pct: float | None, out: Path | None) -> int:
    """`compare RUN` of a counted A/B run: its counts, head against baseline; with
    --fail-on-regression PCT, PCT replaces the run's threshold."""
    if run.plan.baseline is None:
        raise UsageError(
            f"{given} counted one side (it ran without --baseline); give two runs: RUN_A RUN_B"
        )
    from bench.analysis import counts  # scipy loads only when runs are compared
    from bench.render.counts import ratio, section
    from bench.render.page import Page

    found = counts.regressions(counts.pairs(run, pct))
    if pct is not None:
        run.count_threshold_pct = pct
    lines = [
        f"{p.variant}: head ÷ baseline of server instructions per request {ratio(p.ratio)}"
        for p in found
    ]
    return _emit(section(Page(run)) + "\n", out, lines)


def _compare_counts(a: Run, b: Run, pct: float | None, out: Path | None) -> int:
    """`compare RUN_A RUN_B` of two counted runs: B ÷ A per variant, refused in one line when
    the CPU flags or versions the counts depend on differ."""
    if not (a.counts and b.counts):
        timed = a.run_id if not a.counts else b.run_id
        raise UsageError(f"run {timed} counted nothing: compare two counted runs (--count)")
    from bench.analysis import counts  # scipy loads only when runs are compared
    from bench.render.counts import across, ratio

    if why := counts.mismatch(a, b):
        raise UsageError(f"the counts of these runs cannot be compared: {why}")
    found = counts.across(a, b, pct)
    lines = [
        f"{p.variant}: server instructions per request {ratio(p.ratio)}"
        for p in counts.regressions(found)
    ]
    return _emit(across(a, b, found, pct), out, lines)


def _emit(text: str, out: Path | None, regressions: list[str]) -> int:
    """A comparison's Markdown to stdout (and to --out), each regression on stderr; the exit
    code: 1 when there is one."""
    print(text, end="")
    if out is not None:
        out.write_text(text)
    for line in regressions:
        print(f"regression: {line}", file=sys.stderr)
    return 1 if regressions else 0
