"""Sync FastAPI: plain `def` endpoints (threadpool), SQLAlchemy 2 ORM over psycopg 3, or over
the driver DB_DRIVER names (psycopg2 in the published configuration)."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from .common import ALLOWED_HOSTS, PageQuery, Settings, User, sqlalchemy_served_by, sqlalchemy_url
from .orm import UserRow


def create_app() -> FastAPI:
    """Build the app with its own engine and session factory."""
    settings = Settings.from_env()
    driver = settings.driver or "psycopg"
    engine = create_engine(
        sqlalchemy_url(settings.database_url, driver),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_overflow,
        connect_args=settings.connect_args(driver),
    )
    make_session = sessionmaker(engine)

    def get_session() -> Iterator[Session]:
        with make_session() as session:
            yield session

    app = FastAPI()
    if settings.host_check:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS)

    @app.get("/users", response_model=list[User])
    def list_users(
        session: Annotated[Session, Depends(get_session)], page: PageQuery
    ) -> list[UserRow]:
        return list(session.scalars(select(UserRow).order_by(UserRow.user_id).limit(page.limit)))

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @app.get("/health")  # async, to read the running loop; the blocking ping goes to a thread
    async def health() -> JSONResponse:
        try:
            await run_in_threadpool(ping)
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", **sqlalchemy_served_by(app, engine)})

    return app
