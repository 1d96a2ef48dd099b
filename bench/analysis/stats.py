"""Statistics over repeats: median, mean, 95% confidence interval, coefficient of variation.

Repeats are few (3 to 10): the interval is Student's t interval of the mean (scipy), the
spread the sample standard deviation; a single repeat has neither.
"""

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from bench.model.results import Cell, Repeat

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """Summary of one measure over repeats; spread and interval are None when n is 1."""

    n: int
    median: float
    mean: float
    stdev: float | None  # sample standard deviation (n - 1)
    cv: float | None  # stdev / mean; None when n is 1 or the mean is 0
    ci_low: float | None  # 95% confidence interval of the mean
    ci_high: float | None


def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t quantile for `df` degrees of freedom (2.776 for df 4 at 95%)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    return float(scipy_stats.t.ppf((1 + confidence) / 2, df))


def summarize(values: Sequence[float]) -> Summary:
    """Median, mean, sample stdev, CV and the Student-t 95% CI of the mean of `values`."""
    if not values:
        raise ValueError("cannot summarize an empty sequence")
    n = len(values)
    median = statistics.median(values)
    mean = statistics.fmean(values)
    if n == 1:
        return Summary(n, median, mean, None, None, None, None)
    stdev = statistics.stdev(values)
    half = t_quantile(n - 1) * stdev / n**0.5
    cv = stdev / abs(mean) if mean else None
    return Summary(n, median, mean, stdev, cv, mean - half, mean + half)


def stable(summary: Summary, max_cv: float = 0.05) -> bool:
    """True when the CV is known and at most `max_cv`; a single repeat is never called stable."""
    return summary.cv is not None and summary.cv <= max_cv


def ratio(value: float | None, baseline: float | None) -> float | None:
    """`value / baseline`, or None when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def median_over_repeats(cell: Cell, measure: Callable[[Repeat], float | None]) -> float | None:
    """The median of `measure` over a measured cell's repeats (None for failed cells)."""
    values = [v for v in map(measure, cell.repeats) if v is not None]
    return summarize(values).median if cell.ok and values else None
