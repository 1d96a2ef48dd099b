"""A verdict on one measure of one cell, as a typed value: what kind of verdict, which way a
significant change went, the p-value it rests on and why a test could not decide. Logic
(`--fail-on-regression`, the drift gate, the summaries) reads these fields; the words are
made in one place, `bench.render.verdict.text`.
"""

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """What a verdict says."""

    SIGNIFICANT = "significant"  # the test found a change (see the direction)
    NOT_SIGNIFICANT = "not significant"  # the test could not tell the change from noise
    CANNOT_TELL = "cannot tell"  # no test could decide: too few values, no spread, drift
    NOT_TESTED = "not tested"  # shown, not judged: an open loop's offered rate, say


class Direction(Enum):
    """Which way a significant change went, in the measure's own word."""

    FASTER = "faster"
    SLOWER = "slower"
    HIGHER = "higher"
    LOWER = "lower"


THROUGHPUT = (Direction.FASTER, Direction.SLOWER)  # a significant rise, a significant fall
LATENCY = (Direction.HIGHER, Direction.LOWER)


@dataclass(frozen=True)
class Verdict:
    """A verdict: its kind, and what goes with it."""

    kind: Kind
    direction: Direction | None = None  # SIGNIFICANT only
    p: float | None = None  # the p-value (x cells, Bonferroni, in an A/B run); None: no test
    reason: str | None = None  # CANNOT_TELL: why ("1 repeat"); NOT_TESTED: the words shown
    moved_pct: float | None = None  # CANNOT_TELL: the machine may have moved this much (bound)

    def __post_init__(self) -> None:
        if (self.kind is Kind.SIGNIFICANT) != (self.direction is not None):
            raise ValueError(f"a {self.kind.value} verdict with direction {self.direction}")

    @property
    def significant(self) -> bool:
        """Whether the test found a change."""
        return self.kind is Kind.SIGNIFICANT


def tested(p: float, alpha: float, rose: bool, words: tuple[Direction, Direction]) -> Verdict:
    """The verdict of a test with p-value `p`: significant below `alpha`, the way the values
    went (`rose`: words[0], else words[1]), or not significant."""
    if p < alpha:
        return Verdict(Kind.SIGNIFICANT, words[0] if rose else words[1], p)
    return Verdict(Kind.NOT_SIGNIFICANT, p=p)
