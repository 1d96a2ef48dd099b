"""The report's first section: this run beside the published comparison, with verdicts."""

from bench.analysis import reproduction
from bench.analysis.reproduction import Match, Ratio, Reproduction
from bench.model import published
from bench.model.results import Run
from bench.render import markdown
from bench.render.markdown import TIMES, fmt_1, fmt_ms, fmt_rps, fold, table
from bench.render.page import Page

NAMES = {"fastapi": "FastAPI (sync)", "fastapi-async": "FastAPI async", "axum": "Axum"}
FORMATS = {"rps": fmt_rps, "memory_mib": fmt_1}
UNITS = {"rps": "rps", "memory_mib": "MiB"}  # the others: ms


def section(page: Page) -> str:
    """The section, or "" when the run has no cells standing for two published rows."""
    run = page.run
    # the fullest comparison first (open), the others folded
    found = sorted(reproduction.reproduce(run, published.load()), key=lambda r: -len(r.ratios))
    if not found:
        return ""
    ratios = [r for rep in found for r in rep.ratios]
    judged = [r for r in ratios if r.judged]
    done = sum(r.reproduced for r in judged)
    intro = (
        f"**{done} of {len(judged)} published ratios reproduced** within "
        f"{reproduction.TOLERANCE:.0%}. Absolute numbers belong to their machine; ratios "
        "between stacks measured on one machine travel. A ratio is reproduced when the "
        "published one lies within this run's interval widened by "
        f"{reproduction.TOLERANCE:.0%} either way. This run's figures are medians over "
        "repeats (each repeat's own latency percentiles, its server's peak RSS); the "
        "interval combines the two 95% intervals' ends (conservative; none with one repeat)."
    )
    if apart := [r for r in ratios if not r.judged]:
        runs = sorted({run for r in apart for run in r.runs})
        some = f"{len(apart)} ratios compare" if len(apart) > 1 else "1 ratio compares"
        intro += f" {some} cells {markdown.apart(runs)}: no verdict."
    parts = ["## Reproduction of the published comparison", intro, _this_run(run, found)]
    parts.append(f"### Against {found[0].source.title}\n\n{_against(found[0])}")
    parts += [fold(f"Against {rep.source.title}", _against(rep)) for rep in found[1:]]
    return "\n\n".join(parts)


def _name(row: str) -> str:
    return NAMES.get(row, row)


def _title(figure: str) -> str:
    return f"{reproduction.FIGURES[figure][0]} ({UNITS.get(figure, 'ms')})"


def _fmt(figure: str, value: float | None) -> str:
    if value is None:
        return "-"
    return FORMATS.get(figure, fmt_ms)(value)


def _machine(run: Run) -> str:
    pinning = run.metadata.pinning
    pinned = [
        f"{role} on CPU {','.join(map(str, cpus))}"
        for role, cpus in (pinning.plan.items() if pinning else [])
        if cpus
    ]
    where = ", ".join(pinned) or "not pinned"
    return f"{run.metadata.cpu.label()}, {where}"


def _this_run(run: Run, found: list[Reproduction]) -> str:
    matches: dict[str, Match] = {}
    for rep in found:
        for row, m in rep.matches.items():
            matches.setdefault(row, m)
    header = ["", *(f"{_name(row)}<br>`{m.cell.variant}`" for row, m in matches.items())]
    rows = [
        [_title(f), *(_fmt(f, reproduction.figure(m.cell, f)) for m in matches.values())]
        for f in reproduction.FIGURES
    ]
    cells = "; ".join(f"{_name(r)}: {m.cell.variant}, {m.cell.label}" for r, m in matches.items())
    return (
        f"**This run, published-style** ({_machine(run)}; run `{run.run_id}`, profile "
        f"`{run.profile}`):\n\n{table(header, rows)}\n\nCells: {cells}."
    )


def _against(rep: Reproduction) -> str:
    source = rep.source
    figures = [f for f in reproduction.FIGURES if any(r.figure == f for r in rep.ratios)]
    header = ["", *(_name(row) for row in rep.matches)]
    rows = [
        [_title(f), *(_published(getattr(source.rows[r], f)) for r in rep.matches)] for f in figures
    ]
    differences = [f"- {_name(m.row)}: {d}" for m in rep.matches.values() for d in m.differences]
    parts = [
        f"Published on {source.machine}; `{source.command}`. Source: {source.source}.",
        table(header, rows),
        table(
            ["ratio", "published", "this run", "interval", "verdict", "likely reasons"],
            (_ratio_row(r, bool(differences)) for r in rep.ratios),
        ),
    ]
    if differences:
        parts.append(
            "How this run's cells differ from the published setting:\n\n" + "\n".join(differences)
        )
    return "\n\n".join(parts)


def _published(value: float | None) -> str:
    """A published figure as the source wrote it (15.4, 612)."""
    return "-" if value is None else f"{value:g}"


def _times(value: float) -> str:
    return f"{TIMES}{value:.3g}" if value < 1000 else f"{TIMES}{value:.0f}"


def _ratio_row(r: Ratio, differences: bool) -> list[str]:
    title = f"{_name(r.numerator)} ÷ {_name(r.denominator)}, {reproduction.FIGURES[r.figure][0]}"
    interval = (
        f"[{_times(r.low)}, {'∞' if r.high == float('inf') else _times(r.high)}]"
        if r.low is not None and r.high is not None
        else "one repeat"
    )
    reasons = r.reasons or (["the cells differ from the published setting (below)"] * differences)
    why = "; ".join(reasons) if r.judged and not r.reproduced else ""
    return [title, _times(r.published), _times(r.ours), interval, r.verdict(), why]
