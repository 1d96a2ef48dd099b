"""Unit tests for bench.analysis.power: the smallest change a t-test could have detected,
against published and hand-computed values."""

import itertools
import math

import pytest
from scipy import stats as scipy_stats

from bench.analysis import power


def test_a_paired_test_of_34_detects_half_a_standard_deviation_as_g_power_says() -> None:
    """G*Power's worked example (paired t-test, effect size dz = 0.5, two-sided alpha 0.05,
    power 0.8) needs 34 pairs (actual power 0.8078): with 34 the smallest detectable effect
    is just under 0.5 standard deviations, with 33 just over."""
    assert (
        power.detectable(1 / math.sqrt(34), 33, 0.05)
        < 0.5
        < power.detectable(1 / math.sqrt(33), 32, 0.05)
    )


def test_with_many_degrees_of_freedom_it_is_the_normal_formula() -> None:
    """(z(0.975) + z(0.8)) * se = (1.95996 + 0.84162) * se from the normal table."""
    assert power.detectable(1.0, 1e7, 0.05) == pytest.approx(2.80158, abs=2e-4)
    assert power.detectable(0.1, 1e7, 0.01) == pytest.approx(0.1 * (2.57583 + 0.84162), abs=2e-5)


def test_the_answer_has_the_power_asked_for_where_few_rounds_make_it_hard() -> None:
    """Three rounds, alpha 0.01 (0.05 over five cells): the noncentral t at the answer
    rejects 80% of the time, and the answer is wider than the normal approximation."""
    d = power.detectable(0.1, 2, 0.01)
    c = scipy_stats.t.ppf(0.995, 2)
    got = scipy_stats.nct.sf(c, 2, d / 0.1) + scipy_stats.nct.cdf(-c, 2, d / 0.1)
    assert got == pytest.approx(0.8, abs=1e-6)
    assert d > 0.1 * (c + scipy_stats.t.ppf(0.8, 2))


def test_the_detectable_ratio_by_hand_for_eight_rounds() -> None:
    """Eight rounds of spread 0.17, alpha 0.05 / 5: computed here from the definition,
    x1.31 (a 24% fall, x0.762, is detected 80% of the time)."""
    ratio = power.detectable_ratio(0.17, 8, 0.01)
    c, nc = scipy_stats.t.ppf(0.995, 7), math.log(ratio) / (0.17 / math.sqrt(8))
    assert scipy_stats.nct.sf(c, 7, nc) + scipy_stats.nct.cdf(-c, 7, nc) == pytest.approx(0.8)
    assert 1 / ratio == pytest.approx(0.762, abs=5e-4)


def test_it_shrinks_with_rounds_and_grows_with_spread_and_with_fewer_false_alarms() -> None:
    by_rounds = [power.detectable_ratio(0.17, n, 0.01) for n in range(2, 30)]
    assert all(a > b for a, b in itertools.pairwise(by_rounds))
    by_spread = [power.detectable_ratio(s, 8, 0.01) for s in (0.01, 0.05, 0.1, 0.2)]
    assert all(a < b for a, b in itertools.pairwise(by_spread))
    assert power.detectable(0.2, 7, 0.01) == pytest.approx(2 * power.detectable(0.1, 7, 0.01))
    assert power.detectable_ratio(0.17, 8, 0.05) < power.detectable_ratio(0.17, 8, 0.01)
    assert power.detectable_ratio(0.0, 8, 0.01) == 1.0


@pytest.mark.parametrize(
    ("se", "df", "alpha", "power_"),
    [(-1.0, 5, 0.05, 0.8), (1.0, 0, 0.05, 0.8), (1.0, 5, 0.0, 0.8), (1.0, 5, 0.05, 1.0)],
)
def test_impossible_settings_are_refused(se: float, df: float, alpha: float, power_: float) -> None:
    with pytest.raises(ValueError):
        power.detectable(se, df, alpha, power_)
    with pytest.raises(ValueError, match="2 rounds or more"):
        power.detectable_ratio(0.1, 1, 0.05)
