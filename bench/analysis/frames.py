"""Folded stacks (`frame;frame;leaf COUNT`, one stack a line, as py-spy's raw output and
inferno-collapse-perf write them) and the frames that burn the most CPU in them.

A sample's leaf frame is the one running when it was taken: the samples a frame is the leaf
of are its self time. py-spy names a frame `function (file.py:LINE)`; the line is dropped, so
that a function's samples on different lines add up.
"""

import re
from collections import Counter
from collections.abc import Mapping

from bench.model.results import Frame

TOP = 10
_LINE = re.compile(r" \(([^()]*):\d+\)$")  # py-spy's "name (file.py:123)"


def parse(text: str) -> dict[str, int]:
    """The stacks of folded text and their samples (a stack given twice adds up); a line
    that is not `STACK COUNT` is a ValueError naming it."""
    stacks: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            raise ValueError(f"line {number} is not folded stacks (STACK COUNT): {line[:80]!r}")
        stacks[stack] = stacks.get(stack, 0) + int(count)
    return stacks


def frame_name(frame: str) -> str:
    """A frame without its line number: "select (selectors.py:451)" -> "select (selectors.py)"."""
    return _LINE.sub(r" (\1)", frame.strip())


def self_time(stacks: Mapping[str, int]) -> Counter[str]:
    """Samples per leaf frame (line numbers dropped)."""
    leaves: Counter[str] = Counter()
    for stack, samples in stacks.items():
        leaves[frame_name(stack.rpartition(";")[2])] += samples
    return leaves


def top_frames(stacks: Mapping[str, int], n: int = TOP) -> list[Frame]:
    """The `n` frames with the most self time, most first (ties by name), each with its
    share of every sample."""
    total = sum(stacks.values())
    ranked = sorted(self_time(stacks).items(), key=lambda item: (-item[1], item[0]))[:n]
    return [Frame(name=name, samples=s, share=s / total) for name, s in ranked if total]


def summarize(text: str, n: int = TOP) -> tuple[int, list[Frame]]:
    """All samples of folded text, and its `n` frames with the most self time."""
    stacks = parse(text)
    return sum(stacks.values()), top_frames(stacks, n)
