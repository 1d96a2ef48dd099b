"""Every plot drawn from stored results files: valid SVG, every cell it should show present
(each cell's marks carry its id), captioned with the run and the machine."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.analysis import latency
from bench.model import store
from bench.model.results import Cell, Run
from bench.render import plots, style

DATA = Path(__file__).parent / "data"
REFERENCE = Path(__file__).parent.parent / "reports" / "published" / "default" / "results.json"
SVG = "{http://www.w3.org/2000/svg}"


def ids(path: Path) -> set[str]:
    """Every id in an SVG file (parsing it also checks that it is well-formed XML)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return {e.attrib["id"] for e in root.iter() if "id" in e.attrib}


def texts(path: Path) -> str:
    """The SVG's text (matplotlib keeps it as text with svg.fonttype "none")."""
    return " ".join(t for e in ET.parse(path).getroot().iter() for t in [e.text or ""] if t)


def expected(run: Run, plot: str) -> set[str]:
    """The ids of the cells a plot must show."""
    closed = [c for c in run.cells if c.ok and c.params.mode == "closed"]
    opened = [c for c in run.cells if c.ok and c.params.mode == "open" and c.open_loop]
    chosen: dict[str, list[Cell]] = {
        "throughput": closed,
        "memory": closed,
        "database": closed,
        "efficiency": closed,  # each closed cell with its server's CPU accounted
        "latency": [c for c in run.cells if latency.curve(c)],
        "open-loop": opened,
    }
    return {c.id for c in chosen[plot]}


FULL = pytest.param(DATA / "results-v2.json", marks=pytest.mark.slow, id="full")  # 8 sweeps


@pytest.mark.parametrize(
    "source", [pytest.param(REFERENCE, id="default", marks=pytest.mark.slow), FULL]
)
def test_every_plot_is_valid_svg_with_every_cell(source: Path, tmp_path: Path) -> None:
    run = store.load(source)
    files = plots.draw(run, tmp_path)
    assert files, "no plot drawn"
    for title, name in files.items():
        path = tmp_path / name
        assert title in texts(path), f"{name} has no title"
        assert run.run_id in texts(path), f"{name} has no caption"
        found = ids(path)
        plot = name.removesuffix(".svg")
        if plot in ("concurrency", "payload"):  # one line per variant joins its cells' ids
            drawn = {part for i in found for part in i.split("-")}
            axis = "concurrency" if plot == "concurrency" else "limit"
            varied = [s for s in run.plan.sweeps if len(s.axes.get(axis, [])) > 1]
            want = {
                i for s in varied for i in s.cells if any(c.id == i and c.ok for c in run.cells)
            }
            assert want <= drawn, f"{name} misses {want - drawn}"
        else:
            assert expected(run, plot) <= found, f"{name} misses {expected(run, plot) - found}"


@pytest.mark.slow  # over 2 s
def test_the_default_reference_has_the_plots_of_a_default_run(tmp_path: Path) -> None:
    files = plots.draw(store.load(REFERENCE), tmp_path)
    assert set(files.values()) == {
        "throughput.svg",
        "latency.svg",
        "open-loop.svg",
        "memory.svg",
        "database.svg",
        "efficiency.svg",  # the reference run (98471b2) accounts each role's CPU
    }


@pytest.mark.slow
def test_sweeps_over_concurrency_and_payload_get_their_line_plots(tmp_path: Path) -> None:
    files = plots.draw(store.load(DATA / "results-v2.json"), tmp_path)
    assert {"concurrency.svg", "payload.svg"} <= set(files.values())
    assert "rows per response" in texts(tmp_path / "payload.svg")


def test_plots_read_in_light_and_dark_themes(tmp_path: Path) -> None:
    plots.draw(store.load(REFERENCE), tmp_path)
    text = (tmp_path / "throughput.svg").read_text()
    assert "fill: #ffffff" not in text and "fill:#ffffff" not in text  # no white background
    assert style.INK in text


def test_no_measured_cell_draws_nothing(tmp_path: Path) -> None:
    run = store.load(DATA / "results-v2.json")
    for cell in run.cells:
        cell.error = "failed on purpose"
    assert plots.draw(run, tmp_path) == {}
    assert not list(tmp_path.glob("*.svg"))


@pytest.mark.slow
def test_the_same_run_draws_the_same_files(tmp_path: Path) -> None:
    run = store.load(REFERENCE)
    first = plots.draw(run, tmp_path / "a")
    second = plots.draw(run, tmp_path / "b")
    assert first == second
    for name in first.values():  # committed references do not churn when re-rendered
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
