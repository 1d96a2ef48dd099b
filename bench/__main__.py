"""`python -m bench`: the harness command line."""

import sys

from bench.cli import main

sys.exit(main())
