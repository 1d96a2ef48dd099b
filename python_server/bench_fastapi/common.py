"""Parts shared by all FastAPI variants: response model, query parameter, SQL, settings, and
the /health read-back of what serves the process."""

import asyncio
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, cast

from fastapi import FastAPI, Query
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the asyncpg variants have no SQLAlchemy installed
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import QueuePool

SQL = 'SELECT * FROM "users" ORDER BY user_id LIMIT $1'

# The servers listen on 127.0.0.1 only, and answer only requests that name it: an HTTP/1.1
# request without Host gets a 400 (RFC 9112, 3.2), and so does a page of another site whose
# name resolves to 127.0.0.1 (DNS rebinding). Use as
# `app.add_middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS)` where
# `settings.host_check` (HOST_CHECK=off leaves it out: the published apps had no such check).
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SWITCH = {"on": True, "off": False}


class Page(BaseModel):
    """The query of GET /users: ?limit=N, 1..2000 (default 100); any other parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=1, le=2000)


# Use as `page: PageQuery` in an endpoint signature.
PageQuery = Annotated[Page, Query()]


class User(BaseModel):
    """One row of the users table as returned by GET /users."""

    model_config = ConfigDict(from_attributes=True)

    user_id: str
    username: str
    email: str


@dataclass(frozen=True)
class Settings:
    """Runtime settings, read from the environment the harness (or you) sets."""

    database_url: str
    pool_size: int
    pool_overflow: int  # SQLAlchemy's max_overflow
    driver: str  # SQLAlchemy's dialect driver, e.g. psycopg or psycopg2 ("": the app's own)
    schema: str  # the schema holding the users table ("": the server's own search path)
    host_check: bool = True  # answer only requests whose Host names 127.0.0.1 or localhost

    @classmethod
    def from_env(cls) -> "Settings":
        """DATABASE_URL, POOL_SIZE (default 5), POOL_OVERFLOW (default 0), DB_DRIVER, DB_SCHEMA,
        HOST_CHECK (on, the default, or off).

        The password, if any, comes from the URL or from libpq's PGPASSWORD/PGPASSFILE,
        which every driver here reads.
        """
        env = os.environ
        pool, overflow = int(env.get("POOL_SIZE", "5")), int(env.get("POOL_OVERFLOW", "0"))
        driver, schema = env.get("DB_DRIVER", ""), env.get("DB_SCHEMA", "")
        check = env.get("HOST_CHECK", "on")
        if check not in SWITCH:
            raise ValueError(f"HOST_CHECK must be on or off, not {check!r}")
        return cls(env["DATABASE_URL"], pool, overflow, driver, schema, SWITCH[check])

    def server_settings(self) -> dict[str, str]:
        """Session settings for every pooled connection: the search path on DB_SCHEMA."""
        return {"search_path": self.schema} if self.schema else {}

    def connect_args(self, driver: str) -> dict[str, object]:
        """server_settings() in the form SQLAlchemy hands `driver`'s connect()."""
        settings = self.server_settings()
        if not settings:
            return {}
        if driver == "asyncpg":
            return {"server_settings": settings}
        return {"options": " ".join(f"-c {k}={v}" for k, v in settings.items())}  # libpq


_PROTOCOLS = "uvicorn.protocols.http"  # uvicorn's HTTP protocol modules: h11_impl, httptools_impl


def served_by(
    app: FastAPI, driver: str, pool: int, overflow: int | None = None
) -> dict[str, object]:
    """What serves this process, read from inside it (call from an `async def` endpoint).

    The server (granian or uvicorn), the running event loop's package (asyncio or uvloop), the
    HTTP parser (the protocol module uvicorn loaded, it imports only the one it uses, or
    granian's own), the database driver, the pool's size and overflow as the pool says, and
    whether `app`'s middleware holds the host check.
    """
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    parsers = [name for name in ("httptools", "h11") if f"{_PROTOCOLS}.{name}_impl" in sys.modules]
    server = "uvicorn" if "uvicorn" in sys.modules else "unknown"
    if "granian" in sys.modules:  # granian serves HTTP itself (Rust, hyper)
        server, parsers = "granian", ["granian"]
    said: dict[str, object] = {
        "server": server,
        "loop": loop,
        "http": ",".join(parsers) or "unknown",
    }
    said |= {"driver": driver, "pool": pool}
    middleware: list[object] = [m.cls for m in app.user_middleware]
    said |= {"host_check": TrustedHostMiddleware in middleware}
    return said if overflow is None else said | {"overflow": overflow}


def sqlalchemy_url(url: str, driver: str) -> str:
    """Turn a libpq-style postgresql:// URL into postgresql+<driver>://."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise ValueError(f"expected a postgresql:// URL, got {url!r}")
    return f"postgresql+{driver}://{rest}"


def sqlalchemy_served_by(app: FastAPI, engine: "Engine | AsyncEngine") -> dict[str, object]:
    """served_by() for a SQLAlchemy engine: its dialect's driver, its pool's size and overflow."""
    pool = cast("QueuePool", engine.pool)
    return served_by(app, engine.dialect.driver, pool.size(), pool._max_overflow)  # no getter
