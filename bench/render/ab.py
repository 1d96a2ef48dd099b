"""The section an A/B run's report leads with: head ÷ baseline per cell, its interval and a
verdict, from the rounds in which both sides ran."""

from bench.analysis import ab
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
    """A measure's verdict in words, its p adjusted by Holm: "no significant change (p=0.43)"."""
    return verdict.text(measure.verdict, verdict.NO_CHANGE)


def section(page: Page) -> str:
    """The section, or "" for a run without --baseline."""
    run = page.run
    side = run.plan.baseline
    if side is None:
        return ""
    found = ab.pairs(run)
    head = run.metadata.git.commit or "unknown"
    dirty = " with uncommitted changes" if run.metadata.git.dirty else ""
    intro = (
        f"This checkout (head: {head[:12]}{dirty}) against `{side.rev}` ({side.commit[:12]}), "
        f"the baseline, checked out beside it and built apart (its variants are named "
        f"NAME@baseline below). Both sides of every cell ran once in every round, one right "
        "after the other (which side first taking turns from round to round), the pairs in an "
        "order shuffled per round, so a drift of the machine moves both sides of a round "
        "together. "
        "Ratio: the geometric mean of the rounds' head ÷ baseline, with its 95% interval over "
        "rounds; verdict: a paired t-test of the rounds' log ratios, p adjusted by Holm over "
        "the cells of the run."
    )
    if not found:
        return f"## Head ÷ baseline\n\n{intro}\n\nNo cell was measured on both sides."
    shapes = len({p.label for p in found}) > 1
    rows = [
        [p.variant, *([p.label] if shapes else []), ratio(p.throughput.ratio),
         _interval(p.throughput), judged(p.throughput), ratio(p.p99.ratio), _interval(p.p99),
         judged(p.p99), str(len(p.throughput.head))]
        for p in found
    ]  # fmt: skip
    header = ["variant", *(["cell"] if shapes else []), "throughput head ÷ baseline"]
    header += ["95% interval", "verdict", "p99 head ÷ baseline", "95% interval", "verdict"]
    header += ["rounds"]
    changed = [f"{p.variant}{' ' + p.label if shapes else ''}" for p in found
               if p.throughput.verdict.significant]  # fmt: skip
    summary = (
        f"**Throughput changed significantly in {', '.join(changed)}**; in no other cell."
        if changed
        else f"**No significant change in throughput** in any of the {len(found)} cells."
    )
    return "\n\n".join(["## Head ÷ baseline", summary, table(header, rows), intro])
