"""The order of each round of a run: every cell once, shuffled from the run's seed, the two
sides of an A/B run's cell back to back."""

import random
from collections.abc import Callable
from typing import TypeVar

from bench.model.plan import CellSpec, Params
from bench.plan.matrix import head

T = TypeVar("T")


def round_order(
    cells: list[T],
    seed: int | None,
    mode: str,
    index: int,
    pair: Callable[[T], object] | None = None,
) -> list[T]:
    """The order of round `index` of the `mode` cells: shuffled from the run's seed, so that a
    steady drift of the machine spreads over every cell instead of always landing on the one
    measured last (plan order when the seed is None).

    Cells with one `pair` key (both sides of an A/B run's cell) run one right after the other,
    so the two sides of a round's ratio see the machine seconds apart, not minutes. Which side
    goes first takes turns from round to round, from a start drawn from the seed: a cell runs
    a few percent slower when another variant ran just before it than after its own twin
    (measured: docs/measurements.md), and taking turns cancels that over an even number of
    rounds. With no two cells sharing a key, the order is the plain shuffle of the cells.
    """
    if seed is None:
        return list(cells)
    groups: dict[object, list[T]] = {}
    for number, cell in enumerate(cells):
        groups.setdefault(pair(cell) if pair else number, []).append(cell)
    starts = random.Random(f"{seed}/{mode}/sides")  # one draw per pair, in plan order
    turns = [(g, (starts.randrange(len(g)) + index) % len(g)) for g in groups.values()]
    order = [group[turn:] + group[:turn] for group, turn in turns]
    random.Random(f"{seed}/{mode}/{index}").shuffle(order)
    return [cell for group in order for cell in group]


def sides(cell: CellSpec) -> tuple[str, Params]:
    """What both sides of an A/B run's cell share: the variant's own name and the parameters."""
    return head(cell.variant), cell.params
