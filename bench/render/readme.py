"""The README's figures of the committed reference run (reports/published/default): the
sentence naming it, its summary table and its CPU per request, made by the report's own
code so that a test holds the README to the run (tests/test_readme.py). To update the README
after a new reference run: `python -m bench.render.readme`, and paste what it prints."""

from bench import REPO
from bench.analysis import reproduction
from bench.model import published
from bench.model.results import Cell, Run
from bench.model.store import load
from bench.plan.matrix import is_baseline
from bench.render import summary
from bench.render.markdown import table
from bench.render.page import Page

REFERENCE = REPO / "reports" / "published" / "default" / "results.json"
SUMMARY = ("throughput (rps)", "throughput 95% interval", "p99 (ms)", "peak memory (MiB)",
           "peak CPU (%)")  # fmt: skip
COSTS = (("server", "server CPU per request (ms)"), ("database", "database CPU per request (ms)"))


def naming(run: Run) -> str:
    """When, at which commit, on what, and how many published ratios it reproduces: "(DATE,
    COMMIT, CPU), reproduces N of M"."""
    date = (run.metadata.started_at or "unknown date")[:10]
    commit = (run.metadata.git.commit or "unknown commit")[:7]
    found = [r for rep in reproduction.reproduce(run, published.load()) for r in rep.ratios]
    judged = [r for r in found if r.judged]
    done = sum(r.reproduced for r in judged)
    return f"({date}, {commit}, {run.metadata.cpu.label()}), reproduces {done} of {len(judged)}"


def summary_table(run: Run) -> str:
    """The first shape's throughput, its interval, p99, peak memory and CPU, and the change."""
    header, rows = summary.main_rows(_cells(run), run, Page(run).reference)
    return table(header, [r for r in rows if r[0] in SUMMARY])


def cost_table(run: Run) -> str:
    """CPU per request of the server and the database (÷ pgbench's); "" for a run from before
    CPU seconds were accounted."""
    cells = _cells(run)
    header, rows = summary.main_rows(cells, run, None)
    by_title = {r[0]: r[1:] for r in rows}
    if not all(title in by_title for _, title in COSTS):
        return ""
    server, database = (by_title[title] for _, title in COSTS)
    ratios = by_title.get(summary.OVER_PGBENCH, [""] * len(cells))
    shown = [f"{d} ({r})" if r else d for d, r in zip(database, ratios, strict=True)]
    lines = [["server", *server], ["database (÷ per pgbench query)", *shown]]
    return table(["CPU per request (ms)", *header[1:]], lines)


def _cells(run: Run) -> list[Cell]:
    return [c for c in summary.first_shape(run) if not is_baseline(c.variant)]


if __name__ == "__main__":
    reference = load(REFERENCE)
    print(f"{naming(reference)}\n\n{summary_table(reference)}\n\n{cost_table(reference)}")
