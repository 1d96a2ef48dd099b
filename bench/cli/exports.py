"""What a run folder is rendered into, and the one step that writes outside it.

The exporters write only inside the run folder they render. The indexes of reports/ are a
step of their own, taken only for a run kept under reports/: a run written elsewhere
(`--out /tmp/...`) leaves this checkout as it was.
"""

from pathlib import Path

from bench.paths import REPORTS, in_reports


def write(run_dir: Path, reports: Path = REPORTS) -> Path:
    """Write `run_dir`'s report (and its plots) into it; when `run_dir` lies under `reports`,
    regenerate the indexes of `reports` too. Return the report."""
    from bench.render import index
    from bench.render.report import write_report  # matplotlib loads only when a report is drawn

    report = write_report(run_dir)
    if in_reports(run_dir, reports):
        index.write_indexes(reports)
    return report
