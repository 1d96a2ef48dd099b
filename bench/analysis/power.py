"""The smallest change a test could have detected: what "no significant change" rules out.

A two-sided t-test at level `alpha` whose estimate has standard error `se` on `df` degrees
of freedom detects a true difference `d` with probability (its power) P(|T| > c), where
c = t(1 - alpha/2, df) and T follows Student's noncentral t with noncentrality d / se.
`detectable` solves that power for 0.8 (Cohen's convention) exactly, with scipy's
noncentral t, not with the normal approximation (t(1 - alpha/2) + t(power)) * se, which is
too optimistic at the 2 to 4 degrees of freedom of a few rounds.

A paired comparison (A/B rounds, counted repeats) tests the mean of n log ratios, spread s:
se = s / sqrt(n), df = n - 1, and `detectable_ratio` gives exp(d): a change of head ÷
baseline beyond xexp(d) or below xexp(-d) is detected in 80% of runs. Where a verdict is
adjusted for many cells, pass the adjusted level (alpha / cells for Bonferroni).
"""

import math

from scipy import optimize
from scipy import stats as scipy_stats

POWER = 0.8


def _power(noncentrality: float, df: float, critical: float) -> float:
    """P(|T| > critical) for T noncentral t: the upper tail, plus the lower one where scipy
    can say (it returns nan once that tail is far below 1e-20)."""
    upper = float(scipy_stats.nct.sf(critical, df, noncentrality))
    lower = float(scipy_stats.nct.cdf(-critical, df, noncentrality))
    return upper + (0.0 if math.isnan(lower) else lower)


def detectable(se: float, df: float, alpha: float, power: float = POWER) -> float:
    """The smallest true difference that a two-sided t-test at level `alpha` (already
    adjusted for the number of tests) detects with probability `power`, for an estimate
    with standard error `se` on `df` degrees of freedom (same unit as `se`)."""
    if se < 0 or df <= 0 or not 0 < alpha < 1 or not alpha < power < 1:
        raise ValueError(f"no power for se={se}, df={df}, alpha={alpha}, power={power}")
    if se == 0:
        return 0.0
    critical = float(scipy_stats.t.ppf(1 - alpha / 2, df))
    high = critical + 3.0
    while _power(high, df, critical) < power:
        high *= 2
    root = optimize.brentq(lambda nc: _power(nc, df, critical) - power, 0.0, high, xtol=1e-10)
    return float(root) * se


def detectable_ratio(spread: float, rounds: int, alpha: float, power: float = POWER) -> float:
    """The smallest ratio (> 1) that a paired t-test of `rounds` log ratios with sample
    standard deviation `spread` detects at level `alpha` with probability `power`: changes
    beyond xr or below x1/r. Needs two rounds or more."""
    if rounds < 2:
        raise ValueError(f"a paired test needs 2 rounds or more, got {rounds}")
    return math.exp(detectable(spread / math.sqrt(rounds), rounds - 1, alpha, power))
