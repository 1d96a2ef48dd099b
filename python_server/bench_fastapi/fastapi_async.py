"""Async FastAPI: `async def` endpoints, raw asyncpg pool."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse

from .common import ALLOWED_HOSTS, SQL, PageQuery, Settings, User, served_by


def create_app() -> FastAPI:
    """Build the app; the asyncpg pool lives for the app's lifespan."""
    settings = Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.pool_size,
            max_size=settings.pool_size,
            server_settings=settings.server_settings(),
        )
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)
    if settings.host_check:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS)

    @app.get("/users", response_model=list[User])
    async def list_users(page: PageQuery) -> Any:
        return [dict(r) for r in await app.state.pool.fetch(SQL, page.limit)]

    @app.get("/health")
    async def health() -> JSONResponse:
        try:
            await app.state.pool.fetchval("SELECT 1")
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse(
            {"status": "ok", **served_by(app, "asyncpg", app.state.pool.get_max_size())}
        )

    return app
