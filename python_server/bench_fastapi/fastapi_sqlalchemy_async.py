"""Async FastAPI with the SQLAlchemy 2 async ORM over asyncpg."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from .common import ALLOWED_HOSTS, PageQuery, Settings, User, sqlalchemy_served_by, sqlalchemy_url
from .orm import UserRow


def create_app() -> FastAPI:
    """Build the app with its own async engine; the engine is disposed on shutdown."""
    settings = Settings.from_env()
    engine = create_async_engine(
        sqlalchemy_url(settings.database_url, "asyncpg"),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_overflow,
        connect_args=settings.connect_args("asyncpg"),
    )
    make_session = async_sessionmaker(engine)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with make_session() as session:
            yield session

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    if settings.host_check:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS)

    @app.get("/users", response_model=list[User])
    async def list_users(
        session: Annotated[AsyncSession, Depends(get_session)], page: PageQuery
    ) -> list[UserRow]:
        rows = await session.scalars(select(UserRow).order_by(UserRow.user_id).limit(page.limit))
        return list(rows)

    @app.get("/health")
    async def health() -> JSONResponse:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", **sqlalchemy_served_by(app, engine)})

    return app
