"""The report: report.md and report.html from results.json alone.

A report is a declared, ordered list of sections sharing one signature (`Section`: a `Page`
in, Markdown out; compare hyperfine's exporters). `SECTIONS` is a measured run's, in the
order a reader meets them and the README's "Reading the report" lists them (a test holds the
two together); a soak, a flamegraph-only run and a counted run have their own lists.
`render` is pure; `write_report` does the file I/O: it loads a run folder's results.json,
draws the plots beside it and writes report.md and the same as one page, report.html
(bench/render/html.py).
"""

from pathlib import Path

from bench.model.results import Run
from bench.model.store import load
from bench.render import (
    ab,
    canary,
    counts,
    details,
    flame,
    headline,
    limits,
    network,
    openloop,
    plots,
    reproduction,
    soak,
    summary,
)
from bench.render.html import write_page
from bench.render.page import Page, Section, join

MEASURED = (
    'Each server answers `GET /users` with `SELECT * FROM "users" ORDER BY user_id LIMIT n` '
    "(n = the cell's limit, 100 as published) against a local Postgres, through its pool; oha "
    "drives it in a closed loop (each connection sends its next request when the previous "
    "answer arrives), and in open-loop cells at fixed rates (below). Throughput, memory and "
    "CPU are medians over repeats; latency percentiles come from the pooled distribution of "
    "every request of every repeat (where the run recorded them)."
)


def title(page: Page) -> str:
    """The run's heading: which run, its profile, its date and machine."""
    return f"{page.heading('Benchmark run')}, {page.run.metadata.cpu.label()}."


def method(page: Page) -> str:
    """What the run measured and how: the endpoint, the loops, the medians, the order."""
    run = page.run
    text = f"## How it was measured\n\n{MEASURED}"
    if run.plan.note:
        text += f"\n\n{run.plan.note}"
    if run.plan.seed is not None:
        text += (
            f" Each round ran the cells in its own order, shuffled from seed {run.plan.seed} "
            f"(`--seed {run.plan.seed}` repeats it)."
        )
    if shard := run.plan.shard:
        text += f"\n\nThis run is shard {shard.index}/{shard.count} of plan `{run.plan.plan_id}`."
    return text


def missing(page: Page) -> str:
    """The planned cells no shard of a merged run measured."""
    run = page.run
    if not run.missing:
        return ""
    planned = {c.id: c for c in run.plan.cells}
    lines = [f"- {planned[i].variant}, {planned[i].label} (`{i}`)" for i in run.missing]
    return f"**Missing**: {len(lines)} planned cells were not measured:\n\n" + "\n".join(lines)


def plot_links(page: Page) -> str:
    """Every plot drawn beside the report, in reading order."""
    images = [f"![{name}]({file})" for name, file in page.plots.items() if name != headline.TITLE]
    if not images:
        return ""
    return "## Plots\n\n" + "\n\n".join(images)


SECTIONS: tuple[Section, ...] = (
    Section("Title", title),
    Section("Headline", headline.section),
    Section("Missing cells", missing),
    Section("Head ÷ baseline", ab.section),
    Section("How it was measured", method),
    Section("Reproduction of the published comparison", reproduction.section),
    Section("A summary table per sweep", summary.sweeps),
    Section("Stability", summary.stability),
    Section("Machine canary", canary.section),
    Section("Plots", plot_links),
    Section("Open loop", openloop.section),
    Section("The database across a network", network.section),
    Section("Ceilings", limits.section),
    Section("Flamegraphs", flame.section),
    Section("What ran", details.what_ran),
    Section("Skipped", details.skips),
    Section("Machine and pinning", details.machine),
    Section("Variants", details.variants),
)
_WHERE = (Section("Machine and pinning", details.machine), Section("Variants", details.variants))
SOAK_SECTIONS = (Section("Title", soak.title), Section("Soak", soak.section), *_WHERE)
FLAMEGRAPH_SECTIONS = (
    Section("Title", flame.title),
    Section("Flamegraphs", flame.section),
    *_WHERE,
)
COUNT_SECTIONS = (
    Section("Title", counts.title),
    Section("Server instructions per request", counts.section),
    *_WHERE,
)


def sections(run: Run) -> tuple[Section, ...]:
    """The sections of `run`'s report: a soak's, a flamegraph-only run's, or a measured run's."""
    if run.soak is not None:
        return SOAK_SECTIONS
    if run.flamegraphs and not run.cells:  # `python -m bench flamegraph`
        return FLAMEGRAPH_SECTIONS
    if run.counts and not run.cells:  # `run --count`
        return COUNT_SECTIONS
    return SECTIONS


def render(run: Run, plot_files: dict[str, str] | None = None) -> str:
    """The Markdown report for `run`; `plot_files` maps plot title -> file name beside it."""
    page = Page(run, plot_files or {})
    return join([section.draw(page) for section in sections(run)])


def write_report(run_dir: Path) -> Path:
    """Load `run_dir/results.json`, draw the plots beside it and write `run_dir/report.md` and
    `run_dir/report.html` (nothing outside `run_dir`); return the Markdown report."""
    run = load(run_dir / "results.json")
    reference = Page(run).reference
    plot_files = headline.draw(run, run_dir, reference) | plots.draw(run, run_dir)
    network.draw(run, run_dir)  # shown in its own section
    path = run_dir / "report.md"
    path.write_text(render(run, plot_files))
    write_page(path)
    return path
