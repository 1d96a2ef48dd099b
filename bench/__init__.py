"""Build-and-bench harness: FastAPI variants vs Axum on one Postgres-backed endpoint."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
