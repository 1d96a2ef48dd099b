"""A verdict in words, the one place they are made: "significant: faster (p=0.003)",
"not significant (p=0.43)", "cannot tell (1 repeat)", "cannot tell: the machine moved by up to
15% between the runs", or a measure's "not tested (...)"."""

from bench.analysis.verdict import Kind, Verdict

NOT_SIGNIFICANT = "not significant"  # two runs' repeats compared (Welch)
NO_CHANGE = "no significant change"  # an A/B run's paired ratio


def text(verdict: Verdict, unchanged: str = NOT_SIGNIFICANT) -> str:
    """The verdict as the tables show it; `unchanged` words a test that found no change."""
    p = f" (p={verdict.p:.2g})" if verdict.p is not None else ""
    match verdict.kind:
        case Kind.SIGNIFICANT:
            assert verdict.direction is not None  # Verdict refuses a significant one without
            return f"significant: {verdict.direction.value}{p}"
        case Kind.NOT_SIGNIFICANT:
            return f"{unchanged}{p}"
        case Kind.CANNOT_TELL if verdict.moved_pct is not None:
            moved = f"{verdict.moved_pct:.0f}%"
            return f"cannot tell: the machine moved by up to {moved} between the runs"
        case Kind.CANNOT_TELL:
            return f"cannot tell ({verdict.reason})" if verdict.reason else "cannot tell"
        case Kind.NOT_TESTED:
            return verdict.reason or "not tested"
