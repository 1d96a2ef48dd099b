"""`python -m bench`: the harness command line."""

import sys

from bench.cli import at_exit, main


def _run() -> int:
    try:
        return main()
    finally:
        at_exit()


sys.exit(_run())
