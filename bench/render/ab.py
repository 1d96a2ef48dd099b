"""The section an A/B run's report leads with: head ÷ baseline per cell, its interval, a
verdict and the smallest change the run could have seen, from the rounds in which both sides
ran."""

from bench.analysis import ab
from bench.model.results import Run
from bench.render import verdict
from bench.render.markdown import TIMES, table
from bench.render.page import Page


def ratio(value: float | None) -> str:
    """A ratio as the section shows it ("x1.012"), or n/a."""
    return f"{TIMES}{value:.3f}" if value is not None else "n/a"


def _interval(measure: ab.Paired) -> str:
    if measure.low is None or measure.high is None:
        return "n/a"
    return f"[{ratio(measure.low)}, {ratio(measure.high)}]"


def judged(measure: ab.Paired) -> str:
    """A measure's verdict in words, its p adjusted by Bonferroni over the measure's cells:
    "no significant change (p=0.43)"."""
    return verdict.text(measure.verdict, verdict.NO_CHANGE)


def detectable(measure: ab.Paired) -> str:
    """The smallest change its test detects at 80% power, as a fall and a rise: "-24% / +31%"
    (n/a where nothing was tested)."""
    if measure.detectable is None or measure.p_value is None:
        return "n/a"
    fall, rise = (1 - 1 / measure.detectable) * 100, (measure.detectable - 1) * 100
    return f"\N{MINUS SIGN}{fall:.0f}% / +{rise:.0f}%"


def _intro(run: Run, side_rev: str, side_commit: str) -> str:
    head = run.metadata.git.commit or "unknown"
    dirty = " with uncommitted changes" if run.metadata.git.dirty else ""
    return (
        f"This checkout (head: {head[:12]}{dirty}) against `{side_rev}` ({side_commit[:12]}), "
        f"the baseline, checked out beside it and built apart (its variants are named "
        f"NAME@baseline below). Both sides of every cell ran once in every round, one right "
        "after the other (which side first taking turns from round to round), the pairs in an "
        "order shuffled per round, so a drift of the machine moves both sides of a round "
        "together. "
        "Ratio: the geometric mean of the rounds' head ÷ baseline. Verdict: a paired t-test of "
        "the rounds' log ratios, its p multiplied by the number m of cells tested on that "
        "measure (Bonferroni: closed-loop throughput is one family, p99 another). Interval: "
        "Student's t over the rounds at 1 \N{MINUS SIGN} 0.05/m, so the m intervals hold "
        f"together with 95% confidence and an interval excludes {TIMES}1 exactly when its "
        "verdict is significant. Smallest detectable change: the fall or rise that the same "
        "test detects in 80% of runs, from the spread of this run's rounds; \"no significant "
        'change" means nothing larger.'
    )


def _summary(found: list[ab.Pair], shapes: bool) -> str:
    changed = [f"{p.variant}{' ' + p.label if shapes else ''}" for p in found
               if p.throughput.verdict.significant]  # fmt: skip
    if changed:
        return f"**Throughput changed significantly in {', '.join(changed)}**; in no other cell."
    words = f"**No significant change in throughput** in any of the {len(found)} cells"
    tested = [p for p in found if p.throughput.detectable is not None and p.throughput.p_value]
    if not tested:
        return words + "."
    worst = max(tested, key=lambda p: p.throughput.detectable or 1.0)
    return (
        f"{words}: nothing larger than {detectable(worst.throughput)} in any cell "
        f"(80% power; the least sensitive cell: {worst.variant})."
    )


def section(page: Page) -> str:
    """The section, or "" for a run without --baseline."""
    run = page.run
    side = run.plan.baseline
    if side is None:
        return ""
    found = ab.pairs(run)
    intro = _intro(run, side.rev, side.commit)
    if not found:
        return f"## Head ÷ baseline\n\n{intro}\n\nNo cell was measured on both sides."
    shapes = len({p.label for p in found}) > 1
    rows = [
        [p.variant, *([p.label] if shapes else []), ratio(p.throughput.ratio),
         _interval(p.throughput), judged(p.throughput), detectable(p.throughput),
         ratio(p.p99.ratio), _interval(p.p99), judged(p.p99), detectable(p.p99),
         str(len(p.throughput.head))]
        for p in found
    ]  # fmt: skip
    seen = "smallest detectable change (80% power)"
    header = ["variant", *(["cell"] if shapes else []), "throughput head ÷ baseline"]
    header += ["simultaneous 95% interval", "verdict", seen, "p99 head ÷ baseline"]
    header += ["simultaneous 95% interval", "verdict", seen, "rounds"]
    parts = ["## Head ÷ baseline", _summary(found, shapes), table(header, rows), intro]
    return "\n\n".join(parts)
