"""Markdown building blocks shared by the report's sections: tables and number formats."""

from collections.abc import Iterable

TIMES = "\N{MULTIPLICATION SIGN}"


def table(header: list[str], rows: Iterable[list[str]]) -> str:
    """A GitHub Markdown table."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(escape(c) for c in line) + " |" for line in lines)


def escape(text: str) -> str:
    """Text safe inside a table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def fold(summary: str, body: str) -> str:
    """A folded block (<details>) that GitHub renders closed."""
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def fold_long(summary: str, body: str, rows: int, over: int = 12) -> str:
    """`body` as it is, or folded under "summary (rows)" when it has more than `over` rows."""
    return fold(f"{summary} ({rows})", body) if rows > over else body


def fmt_rps(value: float) -> str:
    """Requests per second, whole."""
    return f"{value:.0f}"


def fmt_ms(value: float) -> str:
    """Milliseconds: two decimals below 10, one above."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_3(value: float) -> str:
    """Three significant digits (0.112, 1.05)."""
    return f"{value:.3g}"


def fmt_1(value: float) -> str:
    """One decimal."""
    return f"{value:.1f}"


def apart(runs: list[str]) -> str:
    """How the report names cells measured in different runs: "measured in different runs
    (`a`, `b`: shards of this merged run, maybe on different machines)"."""
    names = ", ".join(f"`{r}`" for r in runs)
    return (
        f"measured in different runs ({names}: shards of this merged run, maybe on different "
        "machines)"
    )
