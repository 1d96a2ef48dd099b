"""The command-line grammar of `python -m bench`: commands, options, help texts."""

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from bench import REPO
from bench.errors import UsageError
from bench.plan import matrix, profiles
from bench.sut.database import parse_provider

AXIS_HELP = {
    "runtime": "how Python apps are served: auto (each variant's own), uvicorn, "
    "uvicorn-standard, granian",
    "workers": "server processes of a Python variant, e.g. 1,2",
    "pool": "database connections per worker, e.g. 5",
    "overflow": "connections a SQLAlchemy pool may add beyond the pool, e.g. 0,10",
    "concurrency": "oha connections (-c), e.g. 1,10,100",
    "keepalive": "reuse connections: on, off or on,off (bare --keepalive: on)",
    "limit": "rows per response, e.g. 1,100,1000",
    "net": "where oha, the server and the database run: loopback (127.0.0.1) or namespaces "
    "(a network namespace each, joined by veth links; root, ip and tc)",
    "db_rtt_ms": "with --net namespaces: the round trip added between the server and the "
    "database, in ms, e.g. 0,0.2,1,2 (netem)",
    "http_rtt_ms": "with --net namespaces: the round trip added between oha and the server, "
    "in ms, e.g. 0,1 (netem)",
    "host_check": "servers answer only requests whose Host names 127.0.0.1 or localhost: on, "
    "off (the published apps' request path) or on,off",
}


MATRIX_HELP = (
    f"another matrix file (default {matrix.MATRIX.relative_to(REPO)}; or ${matrix.MATRIX_ENV})"
)


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2, and refuses an empty
    value for any argument (`--variants "$VARS"` with VARS unset never means "all")."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        """As argparse's, an argument that takes a value checked to be given (not blank)."""
        if kwargs.get("action", "store") == "store":
            name = names[0] if names[0].startswith("-") else kwargs.get("metavar", names[0])
            kwargs["type"] = _given(str(name), kwargs.get("type"))
        return super().add_argument(*names, **kwargs)


def _given(name: str, convert: Callable[[str], Any] | None) -> Callable[[str], Any]:
    """`convert` (or the text itself) after refusing an empty or blank value for `name`."""

    def given(text: str) -> Any:
        if not text.strip():
            raise UsageError(
                f"{name} is empty: give it a value (an unset shell variable reads as empty)"
            )
        return convert(text) if convert is not None else text

    given.__name__ = getattr(convert, "__name__", "str")  # argparse's "invalid int value"
    return given


def _seed(text: str) -> int:
    """--seed: a whole number from 0 to 2**32 - 1."""
    if not text.isdigit() or int(text) >= 2**32:
        raise UsageError(f"--seed {text!r} is not a whole number from 0 to {2**32 - 1}")
    return int(text)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PROVIDER",
        type=parse_provider,
        help="embedded (default), system, or external (DATABASE_URL, used only with this "
        "flag; the run works in its own schema pybench there)",
    )
    parser.add_argument(
        "--db-cleanup",
        action="store_true",
        help="with --db external: afterwards, drop the schema this tool created there",
    )
    parser.add_argument(
        "--no-build", action="store_true", help="use the variant venvs as they are, do not rebuild"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = Parser(prog="python -m bench", description=__doc__)
    parser.add_argument("--matrix", type=Path, help=MATRIX_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("build", help="build the variants' virtualenvs (Rust via cargo+maturin)")
    p.add_argument(
        "--variants", help="comma-separated variant names (default: all but opt-in ones)"
    )
    p = sub.add_parser(
        "verify", help="start each variant and check its answers against the database"
    )
    p.add_argument(
        "--variants", help="comma-separated variant names (default: all but opt-in ones)"
    )
    _add_common(p)
    p = sub.add_parser("serve", help="run one variant in the foreground until Ctrl-C")
    p.add_argument("variant", help="the variant to serve")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    _add_common(p)
    _add_run_parser(sub)
    _add_flamegraph_parser(sub)
    p = sub.add_parser("lock", help="regenerate the uv locks of the harness and every variant")
    p.add_argument("--variants", help="only these variants' locks (default: the harness and all)")
    p.add_argument(
        "--upgrade", action="store_true", help="move to the newest versions pyproject.toml allows"
    )
    p = sub.add_parser(
        "report",
        help="render report.md, report.html and the plots from results.json alone; "
        "several runs (shards) are merged into one",
    )
    p.add_argument(
        "runs",
        nargs="*",
        type=Path,
        metavar="RUN_DIR",
        help="run folders (default: reports/latest)",
    )
    p.add_argument("--out", type=Path, help="folder for a merged run (default: a new run folder)")
    _add_compare_parser(sub)
    sub.add_parser(
        "db-cleanup",
        help="drop the schema pybench (and only what this tool created) from DATABASE_URL",
    )
    for command in sub.choices.values():  # also accepted after the command
        command.add_argument("--matrix", type=Path, default=argparse.SUPPRESS, help=MATRIX_HELP)
    return parser


def _add_run_parser(sub: "argparse._SubParsersAction[Parser]") -> None:
    p = sub.add_parser("run", help="benchmark: the plan's cells, one after the other, then report")
    p.add_argument(
        "--profile",
        help=f"profile from matrix.toml: {', '.join(profiles.names())} (default: default)",
    )
    p.add_argument("--variants", help="comma-separated variant names (default: the profile's)")
    _add_axes(p)
    p.add_argument(
        "--open-loop",
        metavar="RATES",
        help="open-loop rates as fractions of each closed-loop median, e.g. 0.5,0.9, or none "
        "(default: the profile's)",
    )
    p.add_argument("--duration", help="measured time per repeat, e.g. 20s (oha -z)")
    p.add_argument("--requests", type=int, help="requests per repeat instead of a duration (-n)")
    p.add_argument("--warmup", help="unrecorded warmup before the repeats, e.g. 3s")
    p.add_argument("--repeats", type=int, help="measured repeats per cell")
    p.add_argument(
        "--seed",
        type=_seed,
        help="shuffle each round's order of the cells from this seed (default: a random one, "
        "recorded in results.json)",
    )
    p.add_argument(
        "--baseline",
        metavar="REV",
        help="A/B in one run: also measure every cell at git revision REV (e.g. main, HEAD~1), "
        "checked out beside this one, interleaved round by round; the report leads with head ÷ "
        "baseline per cell",
    )
    p.add_argument("--pin", metavar="SPEC", help="CPU plan, e.g. server=0-3,db=4-5,loadgen=6-7")
    p.add_argument("--no-pin", action="store_true", help="do not pin any process")
    p.add_argument("--shard", metavar="I/N", help="run only the I-th of N slices of the plan")
    p.add_argument(
        "--list-shards", type=int, metavar="N", help="print the plan's N shards as JSON and exit"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and its estimate, start nothing"
    )
    p.add_argument("--out", type=Path, help="run folder (default: reports/runs/<UTC time>-<sha>)")
    p.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first failed cell (what was measured is kept and reported)",
    )
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="measure only what an interrupted run lacks (its missing or failed cells, its "
        "ceilings), with its plan, on the same machine, locks and commit",
    )
    p.add_argument(
        "--flamegraphs",
        action="store_true",
        help="after the measured cells, record a flamegraph of each variant under its first "
        "closed-loop cell, in a run of its own (py-spy; perf for Axum): folded stacks, SVG "
        "and the top frames in the report",
    )
    p.add_argument(
        "--count",
        action="store_true",
        help="count instead of timing: each variant's server instructions per request under "
        "valgrind (callgrind), at one connection, --requests per life (default 200) over "
        "--repeats fresh servers (default 3); with --baseline, head ÷ baseline per variant",
    )
    p.add_argument(
        "--count-database",
        action="store_true",
        help="with --count: run the throwaway Postgres under valgrind too, and count its "
        "backends' instructions per request beside each server's",
    )
    p.add_argument(
        "--count-threshold",
        metavar="PCT",
        help="with --count --baseline: call a count changed beyond PCT%% (default: each "
        "variant's smallest detectable change, at least 0.5%%)",
    )
    p.add_argument(
        "--soak",
        metavar="DURATION",
        help="instead of the plan: bursts of load against one variant (--variants NAME) for "
        "DURATION, e.g. 10m, its server's memory sampled; reports the growth after warm-up "
        "(--warmup, default a fifth of DURATION, at most 1m)",
    )
    _add_common(p)


def _add_axes(p: argparse.ArgumentParser) -> None:
    """The axis options (--concurrency LIST, ...), with --keepalive's bare and negated forms."""
    for axis in profiles.AXES:
        if axis == "keepalive":  # a bare --keepalive means on
            p.add_argument(
                "--keepalive", nargs="?", const="on", metavar="LIST", help=AXIS_HELP[axis]
            )
        else:
            option = f"--{profiles.flag(axis)}"
            p.add_argument(option, dest=axis, metavar="LIST", help=AXIS_HELP[axis])
    p.add_argument("--no-keepalive", dest="keepalive", action="store_const", const="off")


def _add_flamegraph_parser(sub: "argparse._SubParsersAction[Parser]") -> None:
    p = sub.add_parser(
        "flamegraph",
        help="profile one variant under a cell's load and pinning (py-spy; perf for Axum), "
        "apart from any measurement: folded stacks, an SVG and the top frames by self time",
    )
    p.add_argument("variant", help="the variant to profile")
    p.add_argument(
        "--profile",
        help=f"the profile whose first closed-loop cell gives the load: "
        f"{', '.join(profiles.names())} (default: default)",
    )
    _add_axes(p)  # one value each: a flamegraph is one cell
    p.add_argument(
        "--duration", help="how long the profiler records, e.g. 10s (default: the profile's)"
    )
    p.add_argument("--warmup", help="load before the profiler starts, e.g. 2s")
    p.add_argument(
        "--sample-rate",
        type=int,
        metavar="HZ",
        help="samples per second (default: 100 for py-spy, 999 for perf)",
    )
    p.add_argument("--pin", metavar="SPEC", help="CPU plan, e.g. server=0-3,db=4-5,loadgen=6-7")
    p.add_argument("--no-pin", action="store_true", help="do not pin any process")
    p.add_argument("--out", type=Path, help="run folder (default: reports/runs/<UTC time>-<sha>)")
    _add_common(p)


RUN_HELP = "a run folder or its results.json, latest, or a reference in reports/published/"


def _add_compare_parser(sub: "argparse._SubParsersAction[Parser]") -> None:
    p = sub.add_parser(
        "compare", help="compare two runs cell by cell (Markdown for a pull request)"
    )
    p.add_argument(
        "run_a",
        metavar="RUN_A",
        help=f"the baseline: {RUN_HELP}; alone, an A/B run (--baseline): head against baseline",
    )
    p.add_argument("run_b", metavar="RUN_B", nargs="?", help=f"compared against it: {RUN_HELP}")
    p.add_argument(
        "--fail-on-regression",
        metavar="PCT",
        help="exit 1 when a cell's throughput fell significantly by more than PCT%% (0-100], "
        "B against A, or head against baseline",
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the Markdown to this file")


def use_matrix(argv: Sequence[str] | None) -> None:
    """Apply --matrix before the grammar is built (profiles and axes come from the file)."""
    pre = Parser(add_help=False)
    pre.add_argument("--matrix", type=Path)
    given = pre.parse_known_args(argv)[0].matrix
    if given is None:
        return
    if not given.is_file():
        raise UsageError(f"--matrix {given}: no such file; give a matrix.toml")
    os.environ[matrix.MATRIX_ENV] = str(given.resolve())  # the servers' harness children too
    matrix.load_variants()  # a broken file is refused now, in one line
