"""Open-loop cells: a rate the server could not sustain is saturated, not a latency."""

SUSTAINED = 0.95  # achieved below 95% of the offered rate: saturated


def saturated(offered: float, achieved: float) -> bool:
    """Whether a server answered less than SUSTAINED of the rate it was offered."""
    return achieved < SUSTAINED * offered
