"""report.html: the report's Markdown as one self-contained page.

The page is rendered by markdown-it-py (CommonMark with tables; raw HTML passes through, so
the report's `<details>` folds work) from the same Markdown as report.md, so it has the same
sections. It loads nothing: each plot (an SVG file beside the report, an image in the
Markdown) is inlined, the style and the script are inline, and its Content-Security-Policy
forbids every fetch and any script but its own. Each top-level section folds (open at first),
a click on a table's column header sorts its rows (numbers as numbers), and the colours follow
the reader's light or dark theme (`prefers-color-scheme`).
"""

import base64
import hashlib
from html import escape
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

STYLE = """
:root { color-scheme: light dark; --ink: #1f2328; --paper: #ffffff; --muted: #59636e;
  --line: #d1d9e0; --band: #f6f8fa; --link: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --ink: #f0f6fc; --paper: #0d1117; --muted: #9198a1; --line: #3d444d;
    --band: #151b23; --link: #4493f8; }
}
body { margin: 0 auto; max-width: 1100px; padding: 1rem 2rem 4rem; color: var(--ink);
  background: var(--paper); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
a { color: var(--link); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 85%; background: var(--band); border-radius: 4px; }
code { padding: 0.1em 0.3em; }
pre { padding: 0.8em; overflow-x: auto; }
table { display: block; overflow-x: auto; border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid var(--line); padding: 0.3em 0.6em; text-align: left; }
tbody tr:nth-child(even) { background: var(--band); }
th { cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
summary { cursor: pointer; }
details { margin: 0.5em 0; }
details.section > summary { border-bottom: 1px solid var(--line); margin-top: 1.5em; }
details.section > summary > h2 { display: inline; }
h1 { border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
svg { display: block; max-width: 100%; height: auto; margin: 1em 0; }
"""

SCRIPT = """
const NUMBER = /^[^\\d+-]{0,2}([+-]?\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?)/i;  /* "12.5", "[416, 475]" */
function value(cell) {
  const found = NUMBER.exec(cell.textContent.trim());
  return found ? parseFloat(found[1]) : NaN;
}
function order(a, b, up) {
  const x = value(a), y = value(b);
  if (isNaN(x) !== isNaN(y)) return isNaN(x) ? 1 : -1;  /* "failed", "n/a", "-": last */
  const sign = up ? 1 : -1;
  if (!isNaN(x)) return sign * (x - y);
  return sign * a.textContent.localeCompare(b.textContent, undefined, { numeric: true });
}
for (const table of document.querySelectorAll("table")) {
  const head = table.tHead, body = table.tBodies[0];
  if (!head || !body) continue;
  const headers = [...head.rows[0].cells];
  headers.forEach((th, column) => {
    th.tabIndex = 0;
    th.title = "Sort by this column";
    const sort = () => {
      const up = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach((other) => other.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      const rows = [...body.rows].filter((row) => row.cells.length > column);
      rows.sort((a, b) => order(a.cells[column], b.cells[column], up));
      body.append(...rows);
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
    });
  });
}
"""
SECTION = "<details class=section open><summary>"


def write_page(report: Path) -> Path:
    """Write report.html beside `report` (a report.md, its plots beside it); return it."""
    path = report.with_suffix(".html")
    path.write_text(page(report.read_text(), report.parent))
    return path


def page(markdown: str, folder: Path) -> str:
    """The page of `markdown`, its images that are SVG files in `folder` inlined."""
    md = MarkdownIt("commonmark").enable("table")  # html on: the <details> folds pass through
    tokens = _sections(_inline_plots(md.parse(markdown), folder))
    title = next((t.content for t in tokens if t.type == "inline"), "Benchmark report")
    script = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{script}'"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<link rel="icon" href="data:,">\n<title>{escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{md.renderer.render(tokens, md.options, {})}"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _html(markup: str) -> Token:
    return Token("html_block", "", 0, content=markup)


def _sections(tokens: list[Token]) -> list[Token]:
    """Each level-2 section (outside the report's own folds) as a fold, open at first."""
    out: list[Token] = []
    depth, inside, heading = 0, False, False
    for token in tokens:
        if token.type == "html_block":
            depth += token.content.count("<details") - token.content.count("</details>")
        if token.type == "heading_open" and token.tag == "h2" and depth == 0:
            out.append(_html(("</details>\n" if inside else "") + SECTION))
            inside = heading = True
        out.append(token)
        if token.type == "heading_close" and heading:
            out.append(_html("</summary>\n"))
            heading = False
    return out + ([_html("</details>\n")] if inside else [])


def _inline_plots(tokens: list[Token], folder: Path) -> list[Token]:
    """The images that are SVG files in `folder` replaced by the files' markup."""
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = [_plot(child, folder) for child in token.children]
    return tokens


def _plot(token: Token, folder: Path) -> Token:
    """An image token as the inline SVG it names, or as it is when it names no such file.

    matplotlib names what its SVG refers to (clip paths, markers) by a hash of the content,
    so two plots on one page that share an id share what it names."""
    if token.type != "image":
        return token
    file = (folder / unquote(str(token.attrGet("src")))).resolve()
    if file.suffix != ".svg" or not file.is_relative_to(folder.resolve()) or not file.is_file():
        return token
    text = file.read_text()
    svg = text[text.index("<svg") + len("<svg") :]  # without the XML declaration and doctype
    label = escape(token.content)
    return Token("html_inline", "", 0, content=f'<svg role="img" aria-label="{label}"{svg}')
