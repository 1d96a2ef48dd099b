"""GET /users?limit=N and GET /health as a bare ASGI app: the contract a Python variant keeps.

The harness sets DATABASE_URL, POOL_SIZE and DB_SCHEMA (the schema holding users); /health
says what serves the process (server, event loop, HTTP parser, driver, pool), and the harness
compares that with the cell.
"""

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import asyncpg

SQL = 'SELECT * FROM "users" ORDER BY user_id LIMIT $1'
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def served_by(pool: int) -> dict[str, object]:
    """What serves this process, read from inside it."""
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    protocols = "uvicorn.protocols.http"
    http = [p for p in ("httptools", "h11") if f"{protocols}.{p}_impl" in sys.modules]
    return {
        "server": "uvicorn",
        "loop": loop,
        "http": ",".join(http),
        "driver": "asyncpg",
        "pool": pool,
    }


def limit_of(query: bytes) -> int | None:
    """The limit query parameter: 100 when absent; None when not a whole number in 1..2000, or
    when the query holds any other parameter."""
    params = parse_qs(query.decode(errors="replace"), keep_blank_values=True)
    given = params.pop("limit", None)
    if params:
        return None
    if given is None:
        return 100
    text = given[0]
    return int(text) if text.isdigit() and len(text) <= 4 and 1 <= int(text) <= 2000 else None


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app; its asyncpg pool lives for the lifespan."""
    size = int(os.environ.get("POOL_SIZE", "5"))
    state: dict[str, asyncpg.Pool] = {}

    async def answer(send: Send, status: int, body: object) -> None:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                url, schema = os.environ["DATABASE_URL"], os.environ.get("DB_SCHEMA")
                settings = {"search_path": schema} if schema else {}
                state["pool"] = await asyncpg.create_pool(
                    url, min_size=size, max_size=size, server_settings=settings
                )
                await send({"type": "lifespan.startup.complete"})
            await state["pool"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        pool = state["pool"]
        host = dict(scope["headers"]).get(b"host", b"").split(b":")[0]
        if host not in (b"127.0.0.1", b"localhost"):  # RFC 9112 3.2, and DNS rebinding
            await answer(send, 400, {"detail": "invalid host header"})
        elif scope["path"] not in ("/health", "/users"):
            await answer(send, 404, {"detail": "not found"})
        elif scope["method"] != "GET":
            await answer(send, 405, {"detail": "method not allowed"})
        elif scope["path"] == "/health":
            await pool.fetchval("SELECT 1")
            await answer(send, 200, {"status": "ok", **served_by(pool.get_max_size())})
        else:
            limit = limit_of(scope["query_string"])
            if limit is None:
                await answer(send, 422, {"detail": "limit must be a whole number in 1..2000"})
            else:
                await answer(send, 200, [dict(r) for r in await pool.fetch(SQL, limit)])

    return app
