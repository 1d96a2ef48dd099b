"""Statistics over repeats: median, mean, 95% confidence interval, coefficient of variation.

Pure and stdlib only. Repeats are few (3 to 10), so the interval of the mean uses Student's t
with the quantiles hard-coded for small degrees of freedom.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 95% quantiles of Student's t (0.975), by degrees of freedom.
_T_975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
}  # fmt: skip
# Beyond the table, the quantile of the largest tabulated df at or below df (conservative).
_T_975_LARGE = ((120, 1.980), (60, 2.000), (40, 2.021), (30, 2.042))
_Z_975 = 1.96


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


def t_quantile(df: int) -> float:
    """The two-sided 95% Student-t quantile for `df` degrees of freedom (1.96 beyond df 1000)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df in _T_975:
        return _T_975[df]
    if df > 1000:
        return _Z_975
    return next(t for limit, t in _T_975_LARGE if df >= limit)


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
