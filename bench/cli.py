"""`python -m bench`: argument parsing, the wiring of the stages, and one-line errors."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bench import database, interrupts, loadgen, pinning, profiles, results, runner, variants
from bench.errors import BenchError, UsageError
from bench.merge import merge
from bench.progress import RunProgress
from bench.verify import verify


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PROVIDER",
        help="embedded (default), system, or external (DATABASE_URL); "
        "DATABASE_URL alone selects external",
    )
    parser.add_argument(
        "--no-build", action="store_true", help="use the variant venvs as they are, do not rebuild"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = _Parser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("build", help="build the variants' virtualenvs (Rust via cargo+maturin)")
    p.add_argument("--variants", help="comma-separated variant names (default: all)")
    p = sub.add_parser(
        "verify", help="start each variant and check its answers against the database"
    )
    p.add_argument("--variants", help="comma-separated variant names (default: all)")
    _add_common(p)
    p = sub.add_parser("serve", help="run one variant in the foreground until Ctrl-C")
    p.add_argument("variant", help="the variant to serve")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    _add_common(p)
    _add_run_parser(sub)
    p = sub.add_parser(
        "report",
        help="render report.md (and plots) from results.json alone; "
        "several runs are merged into one",
    )
    p.add_argument("runs", nargs="*", type=Path, help="run folders (default: reports/latest)")
    p.add_argument("--out", type=Path, help="folder for a merged run (default: a new run folder)")
    return parser


def _add_run_parser(sub: "argparse._SubParsersAction[_Parser]") -> None:
    p = sub.add_parser("run", help="benchmark the variants: the matrix loop, then the report")
    p.add_argument(
        "--profile",
        default="default",
        help=f"load profile from matrix.toml: {', '.join(profiles.names())}",
    )
    p.add_argument("--variants", help="comma-separated variant names (default: all)")
    p.add_argument("--concurrency", type=int, help="oha connections (-c)")
    p.add_argument("--duration", help="measured time per repeat, e.g. 20s (oha -z)")
    p.add_argument("--requests", type=int, help="requests per repeat instead of a duration (-n)")
    p.add_argument("--warmup", help="unrecorded warmup before the repeats, e.g. 3s")
    p.add_argument("--repeats", type=int, help="measured repeats per cell")
    p.add_argument(
        "--keepalive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reuse connections (the published runs used --disable-keepalive)",
    )
    p.add_argument("--pin", metavar="SPEC", help="CPU plan, e.g. server=0-3,db=4-5,loadgen=6-7")
    p.add_argument("--no-pin", action="store_true", help="do not pin any process")
    p.add_argument("--out", type=Path, help="run folder (default: reports/runs/<UTC time>-<sha>)")
    _add_common(p)


def cmd_build(args: argparse.Namespace) -> int:
    """Build the selected variants."""
    for variant in variants.select(args.variants):
        print(f"building {variant.name} ...", flush=True)
        variants.build(variant)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Build, provision, and verify each selected variant in turn."""
    chosen = variants.select(args.variants)
    if not args.no_build:
        cmd_build(args)
    with database.provision(args.db) as db:
        print(f"database: {db.provider} PostgreSQL {db.server_version} at {db.safe_url}")
        for variant in chosen:
            with variants.running(variant, db.url) as server:
                checked = verify(variant.name, server.url, db.url)
            print(f"ok  {variant.name}: {checked} requests match the database", flush=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one variant in the foreground against a freshly seeded database."""
    (variant,) = variants.select([args.variant])
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port; use 1-65535")
    if not args.no_build:
        variants.build(variant)
    with (
        database.provision(args.db) as db,
        variants.running(variant, db.url, port=args.port) as server,
    ):
        print(
            f"{variant.name} serving {server.url}/users (database {db.safe_url}); Ctrl-C to stop",
            flush=True,
        )
        code = server.proc.wait()
    raise BenchError(f"{variant.name} exited with code {code}: see {server.log}")


def _options(args: argparse.Namespace) -> runner.Options:
    chosen = variants.select(args.variants)
    shape = profiles.shape(
        args.profile,
        concurrency=args.concurrency,
        repeats=args.repeats,
        requests=args.requests,
        keepalive=args.keepalive,
        duration_s=profiles.seconds(args.duration, "--duration") if args.duration else None,
        warmup_s=profiles.seconds(args.warmup, "--warmup") if args.warmup else None,
    )
    if args.pin and args.no_pin:
        raise UsageError("--pin and --no-pin contradict each other; give one")
    plan = (
        pinning.unpinned()
        if args.no_pin
        else (pinning.parse(args.pin) if args.pin else pinning.auto())
    )
    return runner.Options(chosen, shape, args.profile, plan, args.db, args.out)


def cmd_run(args: argparse.Namespace) -> int:
    """Benchmark: build, provision, run every cell, write results.json and report.md."""
    opts = _options(args)
    oha = loadgen.locate()
    if not args.no_build:
        cmd_build(args)
    run_dir = runner.new_run_dir(opts.out)
    print(f"run folder: {run_dir}\npinning: {opts.plan.note}", flush=True)
    try:
        with RunProgress(len(opts.variants)) as progress:
            run = runner.execute(opts, run_dir, oha, progress.phase)
    finally:
        if (run_dir / "results.json").exists():
            runner.link_latest(run_dir)
            print(f"report: {_render(run_dir)}", flush=True)
    failed = [c for c in run.cells if not c.ok]
    for cell in failed:
        print(f"failed: {cell.variant} {cell.label}: {cell.error or 'see report'}")
    return 1 if failed else 0


def _render(run_dir: Path) -> Path:
    from bench.report import write_report  # matplotlib loads only when a report is drawn

    return write_report(run_dir)


def _results_file(given: Path) -> Path:
    path = given / "results.json" if given.is_dir() else given
    if not path.is_file():
        raise UsageError(
            f"{given} is not a run folder (no results.json in it); "
            "pass reports/runs/<run> or its results.json"
        )
    return path


def cmd_report(args: argparse.Namespace) -> int:
    """Re-render one run's report, or merge several runs into a new one and render it."""
    paths = [_results_file(p) for p in args.runs or [runner.RUNS.parent / "latest"]]
    dirs = [p.parent for p in paths]
    loaded = [results.load(p) for p in paths]
    if len(loaded) == 1 and args.out is None:
        print(f"report: {_render(dirs[0])}")
        return 0
    merged = merge(loaded, "")
    run_dir = runner.new_run_dir(args.out)
    merged.run_id = run_dir.name
    results.save(merged, run_dir / "results.json")
    print(f"merged {len(loaded)} runs into {run_dir}\nreport: {_render(run_dir)}")
    return 0


COMMANDS = {
    "build": cmd_build,
    "verify": cmd_verify,
    "serve": cmd_serve,
    "run": cmd_run,
    "report": cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command, turning failures into one line and an exit code."""
    interrupts.install()
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "db", None) is not None:
            database.choose_provider(args.db)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; everything started was stopped", file=sys.stderr)
        return 130
