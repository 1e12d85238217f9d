"""Hand-written SQL for the few queries the ORM cannot express: the queue claims of the inbox
and the outbox (``UPDATE … RETURNING`` over a sub-select, with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL).

Queries are written once with ``:name`` placeholders and rendered for the connection's dialect
(``?`` for SQLite, ``$n`` for PostgreSQL); values are always bound, never formatted in.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

_PLACEHOLDER = re.compile(r":([a-z_][a-z0-9_]*)")


def connection(model: type[Model]) -> BaseDBAsyncClient:
    """The connection ``model`` uses here (the transaction's, inside `in_transaction`)."""
    return model._meta.db


def dialect(model: type[Model]) -> str:
    return str(connection(model).capabilities.dialect)


def compile_query(query: str, dialect_name: str) -> tuple[str, list[str]]:
    """``query`` with its ``:name`` placeholders in the dialect's style, and the parameter
    names in the order the values must be given. ``{skip_locked}`` becomes ``FOR UPDATE SKIP
    LOCKED`` on PostgreSQL and nothing on SQLite, where one process is the only writer;
    ``{json}`` is the type a JSON column has (``JSONB``, or ``TEXT`` on SQLite), for casting a
    bound JSON text into one."""
    names: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if dialect_name == "sqlite":
            names.append(name)
            return "?"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    skip_locked = "FOR UPDATE SKIP LOCKED" if dialect_name == "postgres" else ""
    json_type = "JSONB" if dialect_name == "postgres" else "TEXT"
    query = query.replace("{skip_locked}", skip_locked).replace("{json}", json_type)
    text = _PLACEHOLDER.sub(substitute, query)
    return text, names


def render(query: str, params: dict[str, Any], dialect_name: str) -> tuple[str, list[Any]]:
    """The query for the dialect, with its values bound in order."""
    text, names = compile_query(query, dialect_name)
    return text, _values(names, params, dialect_name)


def _values(names: list[str], params: dict[str, Any], dialect_name: str) -> list[Any]:
    if dialect_name == "sqlite":
        return [_sqlite_value(params[name]) for name in names]
    return [params[name] for name in names]


def _sqlite_value(value: Any) -> Any:
    # Tortoise stores aware datetimes on SQLite as text in this exact form; comparing against
    # the same form keeps "not_before <= now" a correct string comparison.
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


async def fetch(model: type[Model], query: str, **params: Any) -> list[dict[str, Any]]:
    """Run ``query`` (which may be an ``UPDATE … RETURNING``) and return its rows as dicts."""
    db = connection(model)
    text, values = render(query, params, str(db.capabilities.dialect))
    return list(await db.execute_query_dict(text, values))


async def execute(model: type[Model], query: str, **params: Any) -> int:
    """Run a statement; the number of rows it changed."""
    db = connection(model)
    dialect_name = str(db.capabilities.dialect)
    text, values = render(query, params, dialect_name)
    if dialect_name == "postgres" and text.lstrip().upper().startswith("INSERT"):
        # Tortoise reads an INSERT's count from "INSERT <oid> <rows>" at the oid (always 0).
        return await _postgres_insert(db, text, values)
    count, _ = await db.execute_query(text, values)
    return int(count)


async def _postgres_insert(db: Any, text: str, values: list[Any]) -> int:
    async def run(client: Any) -> int:
        async with client.acquire_connection() as conn:
            status = str(await conn.execute(text, *values))
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    # The client's own translation of driver errors (IntegrityError, OperationalError …).
    return int(await db._translate_exceptions(run))


async def execute_many(model: type[Model], query: str, rows: list[dict[str, Any]]) -> None:
    """Run one statement for each of ``rows`` in a single transaction (the client's own):
    the fast path for writing a batch, without building an ORM query per row."""
    if not rows:
        return
    db = connection(model)
    dialect_name = str(db.capabilities.dialect)
    text, names = compile_query(query, dialect_name)
    values = [_values(names, row, dialect_name) for row in rows]
    if dialect_name == "sqlite" and await _sqlite_many_in_one_hop(db, text, values):
        return
    await db.execute_many(text, values)


async def _sqlite_many_in_one_hop(db: BaseDBAsyncClient, text: str, values: list[Any]) -> bool:
    """BEGIN, the statements and COMMIT in one trip to aiosqlite's thread instead of three.
    Each trip wakes the event loop through its self-pipe; at a few hundred commits a second
    on one core that was a tenth of the webhook's time. Falls back (False) when the client is
    not a plain aiosqlite one, e.g. inside a transaction."""
    run = getattr(getattr(db, "_connection", None), "_execute", None)
    if run is None or type(db).__name__ != "SqliteClient":
        return False

    def many(conn: Any) -> None:
        conn.execute("BEGIN")
        try:
            conn.executemany(text, values)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    async with db.acquire_connection() as aio:
        await aio._execute(many, aio._conn)
    return True


def as_datetime(value: Any) -> datetime | None:
    """A datetime column read through `fetch` (SQLite returns text, PostgreSQL a datetime)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
