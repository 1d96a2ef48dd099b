"""Memory growth over a soak: RSS at the end of warm-up against RSS at the end, and a slope.

RSS rises during a burst and settles in the pause after it, so each end point is the median
of the samples of one burst and pause (`window_s`) rather than a single sample; the slope is
a least-squares line through every sample after warm-up.
"""

import statistics

from scipy.stats import linregress

from bench.model.results import Growth, Soak

MIN_SAMPLES = 3  # fewer samples after warm-up: no line to fit


def growth(soak: Soak) -> Growth | None:
    """The growth of a soak's server memory after warm-up; None with too few samples."""
    samples = list(zip(soak.time_s, soak.rss_mib, strict=True))
    after = [(t, rss) for t, rss in samples if t >= soak.warmup_s]
    if len(after) < MIN_SAMPLES:
        return None
    window = soak.burst_s + soak.pause_s
    start = soak.warmup_s - window
    warm = [rss for t, rss in samples if start <= t <= soak.warmup_s] or [after[0][1]]
    end = [rss for t, rss in after if t >= after[-1][0] - window]
    warm_mib, end_mib = statistics.median(warm), statistics.median(end)
    fit = linregress([t / 60 for t, _ in after], [rss for _, rss in after])
    return Growth(
        warm_rss_mib=round(warm_mib, 3),
        end_rss_mib=round(end_mib, 3),
        growth_mib=round(end_mib - warm_mib, 3),
        growth_pct=round(100 * (end_mib - warm_mib) / warm_mib, 2) if warm_mib else 0.0,
        slope_mib_per_min=round(float(fit.slope), 4),
        slope_stderr=round(float(fit.stderr), 4),
        samples=len(after),
    )
