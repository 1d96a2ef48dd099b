"""Parts shared by all FastAPI variants: response model, query param, SQL, settings, CLI."""

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict

SQL = 'SELECT * FROM "users" ORDER BY user_id LIMIT $1'

# Use as `limit: Limit = 100` in an endpoint signature.
Limit = Annotated[int, Query(ge=1, le=2000)]


class User(BaseModel):
    """One row of the users table as returned by GET /users."""

    model_config = ConfigDict(from_attributes=True)

    user_id: str
    username: str
    email: str


@dataclass(frozen=True)
class Settings:
    """Runtime settings, read from the environment."""

    database_url: str
    pool_size: int

    @classmethod
    def from_env(cls) -> "Settings":
        """Read DATABASE_URL and POOL_SIZE (default 5) from the environment."""
        return cls(os.environ["DATABASE_URL"], int(os.environ.get("POOL_SIZE", "5")))


_PROTOCOLS = "uvicorn.protocols.http"  # uvicorn's HTTP protocol modules: h11_impl, httptools_impl


def served_by(pool_size: int) -> dict[str, str | int]:
    """What serves this process, read from inside it (call from an `async def` endpoint).

    The running event loop's package (asyncio or uvloop), the HTTP parser: the one uvicorn
    loaded (it imports only the protocol module it uses) or granian's own, and the pool size.
    """
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    parsers = [name for name in ("httptools", "h11") if f"{_PROTOCOLS}.{name}_impl" in sys.modules]
    if "granian" in sys.modules:  # granian serves HTTP itself (Rust, hyper)
        parsers = ["granian"]
    return {"loop": loop, "http": ",".join(parsers) or "unknown", "pool": pool_size}


def sqlalchemy_url(url: str, driver: str) -> str:
    """Turn a libpq-style postgresql:// URL into postgresql+<driver>://."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise ValueError(f"expected a postgresql:// URL, got {url!r}")
    return f"postgresql+{driver}://{rest}"


def run(app_path: str, loop: str, http: str) -> None:
    """Parse the CLI, export settings to the environment and start uvicorn on app_path."""
    parser = argparse.ArgumentParser(description=f"Serve {app_path} with uvicorn.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--pool-size", type=int, default=int(os.environ.get("POOL_SIZE", "5")))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default=loop, help=f"uvicorn's event loop (default {loop})")
    parser.add_argument("--http", default=http, help=f"uvicorn's HTTP parser (default {http})")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["POOL_SIZE"] = str(args.pool_size)

    import uvicorn

    uvicorn.run(
        app_path,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        http=args.http,
        log_level="warning",
        access_log=False,
    )
