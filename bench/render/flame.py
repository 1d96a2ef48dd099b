"""The report's flamegraphs: per variant, the frames with the most self time (so that the
Markdown answers where the CPU goes without opening the SVG), links to the SVG and the
folded stacks, or the one line saying why there is none."""

from bench.model.results import Flamegraph
from bench.render.markdown import table
from bench.render.page import Page

TITLE = "## Where the time goes: flamegraphs"
METHOD = (
    "Each variant was profiled in a run of its own, under the load and pinning of its first "
    "closed-loop cell: a fresh server on the server's CPUs; oha, and the profiler, on the load "
    "generator's. A profiler slows the server it samples, so nothing here enters a measured "
    "figure. Python servers: py-spy (`record -f raw --subprocesses`; idle threads are not "
    "sampled); Axum: perf on the `cpu-clock` software event with DWARF call graphs, on a "
    "build with debug info and frame pointers (Cargo profile `profiling`); its kernel frames "
    "end in `_[k]`. A frame's self "
    "time is the samples in which it was the one running (the top of the stack), as a share "
    "of every sample of its variant; py-spy's line numbers are dropped, so that a function's "
    "lines add up."
)
LINKS = (("svg", "flamegraph (SVG)"), ("folded", "folded stacks"))


def title(page: Page) -> str:
    """The title of a run that holds only flamegraphs (`python -m bench flamegraph`)."""
    return f"{page.heading('Flamegraphs')}."


def section(page: Page) -> str:
    """The flamegraphs of `run` ("" when it has none)."""
    run = page.run
    if not run.flamegraphs:
        return ""
    return "\n\n".join([TITLE, METHOD, *(_one(g) for g in run.flamegraphs)])


def _one(graph: Flamegraph) -> str:
    label = graph.params.label()
    head = f"### {graph.variant}"
    if graph.error:
        return f"{head}\n\nNo flamegraph ({label}): {graph.error}"
    cpus = ", ".join(f"{role} on CPU {c}" for role, c in graph.cpus.items())
    links = [f"[{name}]({graph.artifacts[key]})" for key, name in LINKS if key in graph.artifacts]
    about = (
        f"{graph.profiler} at {graph.rate_hz} Hz for {graph.duration_s:g} s under {label}: "
        f"{graph.samples} samples ({cpus}). {' · '.join(links)}"
    )
    rows = [
        [str(rank), f"`{frame.name}`", str(frame.samples), f"{frame.share:.1%}"]
        for rank, frame in enumerate(graph.top, 1)
    ]
    top = table(["", "frame (self time)", "samples", "share"], rows) if rows else "No frames."
    return f"{head}\n\n{about.strip()}\n\n{top}"
