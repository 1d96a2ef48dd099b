"""Unit tests for bench.analysis.stats: known values, edge cases."""

import itertools
import math

import pytest

from bench.analysis import stats


def test_summary_of_one_two_three() -> None:
    s = stats.summarize([1.0, 2.0, 3.0])
    assert (s.n, s.median, s.mean, s.stdev) == (3, 2.0, 2.0, 1.0)
    assert s.cv == pytest.approx(0.5)
    half = 4.303 / math.sqrt(3)  # t(0.975, df=2) * stdev / sqrt(n), from the printed table
    assert s.ci_low == pytest.approx(2.0 - half, abs=1e-3)
    assert s.ci_high == pytest.approx(2.0 + half, abs=1e-3)


def test_interval_contains_the_mean_and_narrows_with_more_repeats() -> None:
    few = stats.summarize([98.0, 101.0, 103.0])
    many = stats.summarize([98.0, 101.0, 103.0] * 5)
    for s in (few, many):
        assert s.ci_low is not None and s.ci_high is not None
        assert s.ci_low < s.mean < s.ci_high
    assert many.ci_high - many.ci_low < few.ci_high - few.ci_low  # type: ignore[operator]


def test_median_of_even_count_and_unsorted_input() -> None:
    assert stats.summarize([4.0, 1.0, 3.0, 2.0]).median == 2.5


def test_single_value_has_no_spread_or_interval() -> None:
    s = stats.summarize([42.0])
    assert (s.n, s.median, s.mean) == (1, 42.0, 42.0)
    assert (s.stdev, s.cv, s.ci_low, s.ci_high) == (None, None, None, None)
    assert not stats.stable(s)


def test_constant_values_are_stable_with_a_collapsed_interval() -> None:
    s = stats.summarize([5.0, 5.0, 5.0])
    assert s.cv == 0.0 and s.ci_low == s.ci_high == 5.0
    assert stats.stable(s)


def test_empty_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        stats.summarize([])


def test_t_quantiles_known_values_and_monotonic() -> None:
    """Against the printed table of Student's t (two-sided 95%, and 99% for df 4)."""
    assert stats.t_quantile(1) == pytest.approx(12.706, abs=5e-4)
    assert stats.t_quantile(9) == pytest.approx(2.262, abs=5e-4)
    assert stats.t_quantile(4, confidence=0.99) == pytest.approx(4.604, abs=5e-4)
    assert stats.t_quantile(100_000) == pytest.approx(1.960, abs=5e-4)
    values = [stats.t_quantile(df) for df in range(1, 2000)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    with pytest.raises(ValueError):
        stats.t_quantile(0)


def test_stable_uses_the_cv_threshold() -> None:
    assert stats.stable(stats.summarize([100.0, 102.0, 98.0]))  # CV 2%
    assert not stats.stable(stats.summarize([100.0, 120.0, 80.0]))  # CV 20%
    assert stats.stable(stats.summarize([100.0, 120.0, 80.0]), max_cv=0.25)


def test_ratio() -> None:
    assert stats.ratio(10.0, 4.0) == 2.5
    assert stats.ratio(10.0, 0.0) is None
    assert stats.ratio(None, 4.0) is None
    assert stats.ratio(10.0, None) is None
