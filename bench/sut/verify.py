"""Check a running server's answers against the rows read straight from the database."""

import json
import urllib.error
import urllib.request
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bench.errors import BenchError, first_line
from bench.sut.database import Database
from bench.sut.variants import request

GOOD_LIMITS: tuple[int | None, ...] = (None, 1, 2000)
BAD_LIMITS = ("0", "-1", "2001", "abc", "1e3", "1" + "0" * 30, "")
BAD_INPUT_STATUS = 422  # FastAPI's validation status; the Axum variant answers the same
KEYS = ["user_id", "username", "email"]


class VerificationError(BenchError):
    """A server answered something other than what the database holds."""


def fetch(url: str, timeout: float = 10.0) -> tuple[int, str, bytes]:
    """GET `url`; return (status, Content-Type, body) for any HTTP status.

    No answer at all (refused, reset, timed out) is a VerificationError naming the URL.
    """
    try:
        with urllib.request.urlopen(request(url), timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()
    except OSError as err:  # URLError, refused, reset, timed out
        reason = getattr(err, "reason", err)
        raise VerificationError(f"GET {url} got no answer: {reason}") from None


def health(base_url: str) -> dict[str, Any]:
    """The server's own GET /health answer (a JSON object), as it describes itself."""
    status, _, body = fetch(f"{base_url}/health")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {"http_status": status}


def expected_rows(db: Database, limit: int) -> list[dict[str, Any]]:
    """The first `limit` users by user_id, as the database returns them."""
    try:
        with db.connect() as conn:
            cur = conn.cursor(row_factory=dict_row).execute(
                'SELECT user_id, username, email FROM "users" ORDER BY user_id LIMIT %s', [limit]
            )
            return list(cur.fetchall())
    except psycopg.Error as exc:
        raise BenchError(
            f"cannot read the rows to expect from the database: {first_line(exc)}"
        ) from None


def verify(name: str, base_url: str, db: Database) -> int:
    """Verify /users (default, limit=1, limit=2000) and every bad limit; return requests checked."""
    checked = 0
    for limit in GOOD_LIMITS:
        path = "/users" if limit is None else f"/users?limit={limit}"
        _check_rows(name, base_url + path, expected_rows(db, limit or 100))
        checked += 1
    for bad in BAD_LIMITS:
        path = f"/users?limit={bad}"
        status, ctype, body = fetch(base_url + path)
        if status != BAD_INPUT_STATUS or not _is_json(ctype, body):
            raise VerificationError(
                f"{name}: GET {path} answered {status} {ctype!r}; "
                f"expected {BAD_INPUT_STATUS} with a JSON error body"
            )
        checked += 1
    return checked


def _check_rows(name: str, url: str, expected: list[dict[str, Any]]) -> None:
    request = url.split("/", 3)[-1]
    status, ctype, body = fetch(url)
    if status != 200 or not ctype.startswith("application/json"):
        raise VerificationError(
            f"{name}: GET /{request} answered {status} {ctype!r}; expected 200 application/json"
        )
    rows = json.loads(body)
    if not isinstance(rows, list) or len(rows) != len(expected):
        got = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise VerificationError(
            f"{name}: GET /{request} returned {got} rows, expected {len(expected)}"
        )
    for i, (got_row, want) in enumerate(zip(rows, expected, strict=True)):
        if not isinstance(got_row, dict) or sorted(got_row) != sorted(KEYS) or got_row != want:
            raise VerificationError(
                f"{name}: GET /{request} row {i} is {got_row!r}, the database has {want!r}"
            )


def _is_json(ctype: str, body: bytes) -> bool:
    if not ctype.startswith("application/json"):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
