"""The README and docs/ against the code they describe: every nox session and command-line
option they name exists, the README's session and option tables list every one there is, its
profile table agrees with matrix.toml, and every relative link leads somewhere. Nothing runs."""

import argparse
import ast
import re
import tomllib
from pathlib import Path

import pytest

from bench import REPO
from bench.cli.grammar import build_parser
from bench.plan import matrix, profiles

README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
MAX_README_LINES = 250

FENCE = re.compile(r"^ *```[^\n]*\n(.*?)^ *```", re.M | re.S)  # also indented, in lists
SPAN = re.compile(r"`([^`]+)`")
NOX = re.compile(r"\bnox -s ([A-Za-z][\w-]*)((?:(?!\bnox -s ).)*)")  # name, its arguments
PYTHON = re.compile(r"\bpython -m bench(?![\w.])((?: --matrix \S+)?) ([a-z][\w-]*)(.*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def snippets(text: str) -> list[str]:
    """Every piece of code in Markdown: each line of a fenced block (without its # comment)
    and each inline code span (a span that wraps onto the next line joined by a space)."""
    lines = [
        re.sub(r"\s+#.*", "", line) for block in FENCE.findall(text) for line in block.splitlines()
    ]
    spans = [" ".join(s.split()) for s in SPAN.findall(FENCE.sub("", text))]
    return lines + spans


def sessions() -> dict[str, str | None]:
    """The sessions of noxfile.py, each with the `python -m bench` command it runs (None for
    a session that runs something else), read from its source."""
    found: dict[str, str | None] = {}
    for node in ast.parse((REPO / "noxfile.py").read_text()).body:
        if isinstance(node, ast.FunctionDef) and any(map(_is_session, node.decorator_list)):
            found[_session_name(node)] = _bench_command(node)
    return found


def _is_session(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ast.unparse(target) in ("nox.session", "session")


def _session_name(node: ast.FunctionDef) -> str:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return node.name


def _bench_command(node: ast.FunctionDef) -> str | None:
    """The command the session's arguments go to: `_bench(session, "run")`, or
    `session.run("python", "-m", "bench", "lock", *session.posargs)`."""
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        args = [a.value if isinstance(a, ast.Constant) else ast.unparse(a) for a in call.args]
        if ast.unparse(call.func) == "_bench" and len(args) > 1:
            return str(args[1])
        if args[:3] == ["python", "-m", "bench"] and "*session.posargs" in args[4:]:
            return str(args[3])
    return None


def grammar() -> dict[str, set[str]]:
    """Every command of `python -m bench` with its option strings (the top level's included,
    under "")."""
    parser = build_parser()
    commands = {"": _options(parser)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                commands[name] = _options(sub) | commands[""]
    return commands


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def table(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table whose header row starts with `header`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(header)), None)
    assert start is not None, f"no table starting {header!r}"
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([cell.strip() for cell in cells])
    return rows


def test_the_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move detail to docs/"


def name(page: Path) -> str:
    return str(page.relative_to(REPO))


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_session_named_exists(page: Path) -> None:
    named = {m[1] for m in NOX.finditer(" ".join(page.read_text().split()))}
    unknown = sorted(named - set(sessions()))
    assert not unknown, f"{name(page)} names sessions noxfile.py lacks: {unknown}"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_option_given_exists(page: Path) -> None:
    """Options after `nox -s SESSION` (a session that runs `python -m bench COMMAND`) or after
    `python -m bench COMMAND` must be options of that command."""
    commands, known = sessions(), grammar()
    wrong = []
    for code in snippets(page.read_text()):
        given = [(commands.get(m[1]), m[2]) for m in NOX.finditer(code)]
        given += [(m[2], m[1] + m[3]) for m in PYTHON.finditer(code)]
        for command, rest in given:
            if command is None:  # tests, lint: the options are pytest's, or none
                continue
            assert command in known, f"{name(page)}: `{code}` runs unknown command {command!r}"
            wrong += [f"`{code}`: {o}" for o in OPTION.findall(rest) if o not in known[command]]
    assert not wrong, f"{name(page)} gives options the grammar lacks: {wrong}"


def test_the_options_table_lists_every_run_option_and_no_other() -> None:
    rows = table(README.read_text(), "| option |")
    named = {o for row in rows for o in OPTION.findall(row[0])}
    mentioned = {o for row in rows for o in OPTION.findall(" ".join(row))}
    known = grammar()["run"] - {"-h", "--help"}
    assert not named - known, f"the README's option table lists unknown options: {named - known}"
    assert not known - mentioned, f"the README's option table lacks: {sorted(known - mentioned)}"


def test_the_sessions_table_lists_every_session() -> None:
    rows = table(README.read_text(), "| session |")
    listed = {m[1] for row in rows for m in NOX.finditer(row[0])}
    assert listed == set(sessions()), f"README's session table: {listed} != {set(sessions())}"


def test_the_profile_table_agrees_with_matrix_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(matrix.MATRIX_ENV, raising=False)
    declared = tomllib.loads(matrix.MATRIX.read_text())["profiles"]
    rows = table(README.read_text(), "| profile | cells | warmup | each repeat | repeats |")
    documented = {row[0].strip("`"): row[1:5] for row in rows}
    assert sorted(documented) == sorted(declared), "README's profile table: not the profiles"
    for profile, (cells, warmup, each, repeats) in documented.items():
        spec = declared[profile]
        readme = (profiles.seconds(warmup, "warmup"), _each(each), int(repeats))
        toml = (
            profiles.seconds(spec.get("warmup", "0s"), "warmup"),
            profiles.seconds(spec["duration"], "duration")
            if "duration" in spec
            else spec["requests"],
            int(spec.get("repeats", 1)),
        )
        assert readme == toml, (
            f"profile {profile}: README (warmup, repeat, repeats) {readme}, matrix.toml {toml}"
        )
        variants = matrix.select(profiles.variants(profile))
        planned = len(profiles.build(profile, variants, profiles.measure(profile), {}).cells)
        assert int(cells) == planned, f"profile {profile}: README {cells} cells, plan {planned}"


def _each(text: str) -> float | int:
    """A profile's measured amount per repeat as the README writes it: "5 s" or "50000 requests"."""
    if match := re.fullmatch(r"(\d+) requests", text):
        return int(match[1])
    return profiles.seconds(text, "duration")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m[1]) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        missing = anchor and file.suffix == ".md" and file.exists() and anchor not in anchors(file)
        if not file.exists() or missing:
            broken.append(target)
    assert not broken, f"{name(page)}: broken links {broken}"


def test_reading_the_report_lists_the_sections_in_their_order() -> None:
    """The README names the report's sections in the order `report.SECTIONS` draws them."""
    from bench.render.report import SECTIONS

    text = README.read_text().split("## Reading the report", 1)[1].split("\n## ", 1)[0]
    listed = text.split("The report's sections, from the top", 1)[1].split("\n\n", 1)[0]
    named = [" ".join(n.split()) for n in re.findall(r"\*\*(.+?)\*\*", listed, re.S)]
    assert named == [s.name for s in SECTIONS]


def test_the_readme_shows_the_reference_run_as_it_is() -> None:
    """The README's sentence naming the reference run, its summary table and its CPU per
    request are the report code's rendering of reports/published/default, no other run's."""
    from bench.model import store
    from bench.render import readme

    run = store.load(readme.REFERENCE)
    text = README.read_text()
    hint = "paste what `python -m bench.render.readme` prints into the README"
    assert readme.naming(run) in " ".join(text.split()), hint
    assert readme.summary_table(run) in text, hint
    costs = readme.cost_table(run)
    assert costs, "the reference run accounts no CPU seconds: regenerate it (nox -s bench)"
    assert costs in text, hint


def test_every_time_in_the_readme_names_the_commit_it_was_measured_at() -> None:
    text = README.read_text().split("How long things take", 1)[1].split("\n\n", 2)[1]
    rows = [line.split(" | ") for line in text.splitlines()[2:]]
    commits = r"[0-9a-f]{7,40}(; [0-9a-f]{7,40})* \|"
    assert rows and all(re.fullmatch(commits, row[-1]) for row in rows), rows
    assert "(2026-" in README.read_text().split("reports/published/default/report.md)", 1)[1]
