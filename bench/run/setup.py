"""Set-up before anything is measured: oha and the variants' venvs, built side by side, one
line per step with how long it took.

The steps are independent, and on a fresh machine two of them (oha and the Axum wheel) are
cargo builds whose downloads, C builds and single-threaded links leave CPUs idle that the
other build can use. Nothing is measured while they run.
"""

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from bench.load import oha
from bench.plan.describe import duration
from bench.plan.matrix import Variant
from bench.sut import variants


def _timed(name: str, step: Callable[[], Path]) -> Callable[[], Path]:
    def run() -> Path:
        start = time.monotonic()
        result = step()
        print(f"set-up: {name} ready in {_took(time.monotonic() - start)}", flush=True)
        return result

    return run


def _took(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else duration(seconds)


def build(chosen: Iterable[Variant]) -> None:
    """Build the `chosen` variants' venvs side by side."""
    _run({variant.name: partial(variants.build, variant) for variant in chosen})


def prepare(chosen: Iterable[Variant], build: bool = True) -> Path:
    """Find or install oha and, unless `build` is false, build the `chosen` variants, all at
    once; return oha's path."""
    steps: dict[str, Callable[[], Path]] = {"oha": oha.locate}
    if build:
        steps |= {variant.name: partial(variants.build, variant) for variant in chosen}
    return _run(steps)["oha"]


def _run(steps: dict[str, Callable[[], Path]]) -> dict[str, Path]:
    """Run every step in a thread of its own; raise the first failure once all have stopped
    (so a failed build never leaves another one running)."""
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(steps))) as pool:
        futures = {name: pool.submit(_timed(name, step)) for name, step in steps.items()}
    for future in futures.values():
        if (error := future.exception()) is not None:
            raise error
    if len(steps) > 1:
        print(f"set-up: done in {_took(time.monotonic() - start)}", flush=True)
    return {name: future.result() for name, future in futures.items()}
