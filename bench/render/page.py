"""What every section of a report is drawn from, and the one signature sections share.

A report is an ordered list of sections (`bench.render.report.SECTIONS`), each a `Section`: a
name (the one the README's "Reading the report" gives it) and a pure function from a `Page`
to Markdown ("" when the run has nothing for it). Adding a section is one function and one
entry in that list.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bench.model.results import Run
from bench.plan import matrix


@dataclass(frozen=True)
class Page:
    """A run and what was drawn beside it: its plots (title -> file name, reading order)."""

    run: Run
    plots: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def reference(self) -> str | None:
        """The variant the others are compared with: the one the run's plan recorded from
        matrix.toml, or (a run from before it was recorded) the matrix file's in use."""
        return self.run.plan.reference or matrix.reference()

    def heading(self, kind: str, subject: str | None = None) -> str:
        """The report's first lines: `# KIND RUN_ID`, then what ran (the profile, unless
        `subject` says otherwise) and when, without the closing full stop."""
        run = self.run
        started = run.metadata.started_at or "unknown date"
        return f"# {kind} {run.run_id}\n\n{subject or f'Profile `{run.profile}`'}, {started}"


@dataclass(frozen=True)
class Section:
    """One part of a report: its name and how it is drawn."""

    name: str
    draw: Callable[[Page], str]


def join(parts: list[str]) -> str:
    """The non-empty parts, a blank line apart, with a final newline."""
    return "\n\n".join(p for p in parts if p) + "\n"
