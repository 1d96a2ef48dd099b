"""Folded stacks and the top frames by self time, on stored real profiler outputs:

- `fastapi-async.folded`: py-spy 0.4 `record -f raw --subprocesses` of fastapi-async under
  the default load (its lines with the most samples, as py-spy wrote them);
- `axum.perf-script`: `perf script` of `perf record -e cpu-clock --call-graph dwarf` of the
  Axum profiling build under the same load (its first samples), folded here by inferno.
"""

import re
from collections import Counter
from pathlib import Path

import pytest

from bench.analysis import frames
from bench.load import flame

DATA = Path(__file__).parent / "data" / "flame"
PY_SPY = DATA / "fastapi-async.folded"
PERF_SCRIPT = DATA / "axum.perf-script"


@pytest.fixture(scope="session")
def collapse() -> Path:
    """inferno-collapse-perf, installed once with cargo into the user cache if missing."""
    return flame.inferno("inferno-collapse-perf")


def leaf_counts(text: str) -> Counter[str]:
    """Self time counted another way: the last `;` field of each line, its count after the
    last space, its `:LINE)` cut off by a regular expression."""
    counts: Counter[str] = Counter()
    for line in filter(None, text.splitlines()):
        head, count = line.rsplit(" ", 1)
        counts[re.sub(r":\d+\)$", ")", head.split(";")[-1])] += int(count)
    return counts


def test_py_spy_raw_output_gives_its_top_ten_frames_by_self_time() -> None:
    text = PY_SPY.read_text()
    stacks = frames.parse(text)
    total = sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line)
    assert sum(stacks.values()) == total
    top = frames.top_frames(stacks)
    expected = sorted(leaf_counts(text).items(), key=lambda e: (-e[1], e[0]))[:10]
    assert [(f.name, f.samples) for f in top] == expected  # most first, ties by name
    assert [f.share for f in top] == [f.samples / total for f in top]
    assert not any(re.search(r":\d+\)$", f.name) for f in top), "line numbers must go"
    # every stack is one of the server's processes, as --subprocesses names them
    assert all(stack.startswith("process ") for stack in stacks)


def test_a_functions_lines_add_up_in_its_self_time() -> None:
    stacks = frames.parse(PY_SPY.read_text())
    by_line = Counter(s.rpartition(";")[2] for s in stacks for _ in range(stacks[s]))
    lines_of: dict[str, list[str]] = {}
    for leaf in by_line:
        lines_of.setdefault(frames.frame_name(leaf), []).append(leaf)
    name, leaves = max(lines_of.items(), key=lambda item: len(item[1]))
    assert len(leaves) > 1, "the sample should hold a function sampled on several lines"
    assert frames.self_time(stacks)[name] == sum(by_line[leaf] for leaf in leaves)


@pytest.mark.slow  # inferno: cargo install once (a few minutes) when missing
def test_perf_script_output_folds_with_inferno_into_top_frames(
    collapse: Path, tmp_path: Path
) -> None:
    script = PERF_SCRIPT.read_text()
    samples = sum(1 for line in script.splitlines() if line and not line[0].isspace())
    folded = tmp_path / "axum.folded"
    flame.run_to([str(collapse), str(PERF_SCRIPT)], folded, None)
    stacks = frames.parse(folded.read_text())
    assert sum(stacks.values()) == samples > 0
    assert all(stack.startswith(("bench-axum;", "tokio-rt-worker;")) for stack in stacks)
    top = frames.top_frames(stacks)
    assert len(top) == 10 and top[0].samples >= top[-1].samples
    assert sum(f.share for f in top) <= 1.0
    # debug info: perf names the server's own functions, not only addresses
    assert any("bench_axum" in stack for stack in stacks)


def test_frame_names_lose_py_spy_line_numbers_only() -> None:
    assert frames.frame_name("select (selectors.py:451)") == "select (selectors.py)"
    assert frames.frame_name("<module> (uvicorn/__main__.py:4)") == "<module> (uvicorn/__main__.py)"
    rust = "tokio::runtime::scheduler::multi_thread::worker::Context::run"
    assert frames.frame_name(rust) == rust
    assert frames.frame_name("[unknown]") == "[unknown]"


def test_a_line_that_is_not_folded_stacks_is_named() -> None:
    with pytest.raises(ValueError, match="line 2 is not folded stacks"):
        frames.parse("a;b 3\na;b three\n")
    assert frames.parse("\na;b 3\na;b 2\n\nc 1\n") == {"a;b": 5, "c": 1}
    assert frames.top_frames({}) == []
