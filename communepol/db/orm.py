"""Tortoise configuration and the database lifecycle: open, migrate, check, close.

Tortoise 1.x keeps its state in a `TortoiseContext` bound to a context variable. The service
opens one context per process (`open_database`) inside the composition root's cleanup context,
before the web server starts, so every request and background task inherits it. Nothing here
runs at import.

Migrations are Tortoise's built-in ones (``communepol/db/migrations``), the same files on
SQLite and PostgreSQL; `migrate` applies them (or unapplies them down to a target) and
`pending_model_changes` reports model changes that no migration captures yet.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from communepol.errors import Unavailable, ValidationError

APP_LABEL = "communepol"
MODELS_MODULE = "communepol.db.models"
MIGRATIONS_MODULE = "communepol.db.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config for one database URL (``sqlite://…`` or ``postgres://…``)."""
    # The connection is named after its dialect: Tortoise caches compiled SQL per connection
    # name for the whole process, so two engines in one process (the test suite) must not
    # share a name.
    name = "sqlite" if database_url.startswith("sqlite://") else "postgres"
    return {
        "connections": {name: _connection(database_url)},
        "apps": _apps_config(name),
        "use_tz": True,
        "timezone": "UTC",
    }


def _apps_config(connection_name: str) -> dict[str, Any]:
    return {
        APP_LABEL: {
            "models": [MODELS_MODULE],
            "default_connection": connection_name,
            "migrations": MIGRATIONS_MODULE,
        }
    }


def _connection(database_url: str) -> str | dict[str, Any]:
    if database_url.startswith("sqlite://"):
        # WAL lets readers run during a write; busy_timeout turns a brief lock into a wait
        # instead of a "database is locked" error.
        path = database_url.removeprefix("sqlite://").partition("?")[0]
        return {
            "engine": "tortoise.backends.sqlite",
            "credentials": {
                "file_path": path,
                "journal_mode": "WAL",
                "journal_size_limit": 16 * 1024 * 1024,
                "foreign_keys": "ON",
                "busy_timeout": 5000,
                # 64 MiB of page cache (the default is 2 MiB): the inbox and outbox indexes of
                # a busy station outgrow 2 MiB within hours, and every insert then reads pages.
                "cache_size": -65536,
                # FULL: a commit is on disk before a webhook is answered 200, even across a
                # power cut (NORMAL would survive only a crash of the process).
                "synchronous": "FULL",
            },
        }
    return database_url


# For the `tortoise` command (``make migrations``): detecting model changes needs no database.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


@contextlib.asynccontextmanager
async def open_database(
    database_url: str, *, create: bool = False
) -> AsyncIterator[TortoiseContext]:
    """Open the database for the current task and everything it starts afterwards, and check
    that it answers (`Unavailable` if not).

    ``create`` creates a missing PostgreSQL database; SQLite files are always created.
    """
    if create and not database_url.startswith("sqlite://"):
        await _create_postgres_database(database_url)
    ctx = TortoiseContext()
    ctx.__enter__()
    try:
        try:
            await ctx.init(config=tortoise_config(database_url))
        except (DBConnectionError, OperationalError, OSError) as err:
            raise Unavailable(f"the database cannot be opened ({type(err).__name__})") from err
        await check_database(ctx)
        yield ctx
    finally:
        await ctx.close_connections()
        with contextlib.suppress(ValueError):
            # Raises only when exited from another task's context; the connections are
            # already closed, which is what matters.
            ctx.__exit__(None, None, None)


async def _create_postgres_database(database_url: str) -> None:
    """Create the database named in ``database_url`` unless it exists (Tortoise's own
    ``_create_db`` fails when it does)."""
    parts = urlsplit(database_url)
    name = parts.path.strip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    try:
        conn = await asyncpg.connect(maintenance)
    except (OSError, asyncpg.PostgresError) as err:
        raise Unavailable(f"the database server cannot be reached ({type(err).__name__})") from err
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            quoted = '"' + name.replace('"', '""') + '"'
            await conn.execute(f"CREATE DATABASE {quoted}")
    except asyncpg.DuplicateDatabaseError:
        pass  # created concurrently by another process
    finally:
        await conn.close()


def _executor(ctx: TortoiseContext) -> MigrationExecutor:
    return MigrationExecutor(ctx.db(), _apps_config(ctx.default_connection or ""))


async def migrate(ctx: TortoiseContext, target: str | None = None) -> list[str]:
    """Apply migrations up to ``target`` (a migration name, ``"zero"`` to unapply all, or None
    for the latest). Returns the names of the migrations applied or unapplied, in order."""
    executor = _executor(ctx)
    name = {None: "__latest__", "zero": "__first__"}.get(target, target)
    targets = [MigrationTarget(app_label=APP_LABEL, name=str(name))]
    try:
        plan = await executor.plan(targets)
        await executor.migrate(targets)
    except ValueError as err:
        raise ValidationError(f"unknown migration {target!r}", field="target") from err
    except (DBConnectionError, OSError) as err:
        raise Unavailable(f"the database cannot be reached: {err}") from err
    return [("-" if step.backward else "+") + step.migration.name for step in plan]


async def applied_migrations(ctx: TortoiseContext) -> list[str]:
    """Names of the migrations recorded as applied, oldest first."""
    executor = _executor(ctx)
    await executor.loader.build_graph()
    return sorted(
        key.name for key in executor.loader.applied_migrations if key.app_label == APP_LABEL
    )


async def unapplied_migrations(ctx: TortoiseContext) -> list[str]:
    """Names of the migrations `migrate` would apply now, in order."""
    executor = _executor(ctx)
    targets = [MigrationTarget(app_label=APP_LABEL, name="__latest__")]
    return [step.migration.name for step in await executor.plan(targets) if not step.backward]


async def require_current_schema(ctx: TortoiseContext) -> None:
    """Raise `Unavailable` when migrations are pending: nothing runs on an old schema."""
    pending = await unapplied_migrations(ctx)
    if pending:
        raise Unavailable(
            f"the database schema is behind by {len(pending)} migration(s): "
            "run `communepol db migrate` first"
        )


async def pending_model_changes(ctx: TortoiseContext) -> list[str]:
    """Names of the operations ``tortoise makemigrations`` would write now; empty when every
    model change is captured by a migration."""
    apps = ctx.apps
    if apps is None:
        raise RuntimeError("pending_model_changes needs an initialised database context")
    config = _apps_config(ctx.default_connection or "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        writers = await MigrationAutodetector(apps, config).changes()
    return [op.describe() for writer in writers for op in writer.operations]


async def check_database(ctx: TortoiseContext) -> None:
    """Raise `Unavailable` unless a trivial query succeeds (for /readyz)."""
    try:
        await ctx.db().execute_query("SELECT 1")
    except Exception as err:  # any failure here means "not ready", whatever the driver raised
        raise Unavailable(f"the database is not reachable ({type(err).__name__})") from err
