"""`python -m bench`: argument parsing, the wiring of the stages, and one-line errors."""

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from bench import database, variants
from bench.errors import BenchError, UsageError
from bench.verify import verify


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PROVIDER",
                        help="embedded (default), system, or external (DATABASE_URL); "
                             "DATABASE_URL alone selects external")
    parser.add_argument("--no-build", action="store_true",
                        help="use the variant venvs as they are, do not rebuild")


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = _Parser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("build", help="build the variants' virtualenvs (Rust via cargo+maturin)")
    p.add_argument("--variants", help="comma-separated variant names (default: all)")
    p = sub.add_parser("verify", help="start each variant and check its answers against the database")
    p.add_argument("--variants", help="comma-separated variant names (default: all)")
    _add_common(p)
    p = sub.add_parser("serve", help="run one variant in the foreground until Ctrl-C")
    p.add_argument("variant", help="the variant to serve")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    _add_common(p)
    return parser


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
    with database.provision(args.db) as db, \
            variants.running(variant, db.url, port=args.port) as server:
        print(f"{variant.name} serving {server.url}/users (database {db.safe_url}); "
              "Ctrl-C to stop", flush=True)
        code = server.proc.wait()
    raise BenchError(f"{variant.name} exited with code {code}: see {server.log}")


COMMANDS = {"build": cmd_build, "verify": cmd_verify, "serve": cmd_serve}


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command, turning failures into one line and an exit code."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        args = build_parser().parse_args(argv)
        if args.command != "build":
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
