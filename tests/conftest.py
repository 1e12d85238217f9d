"""Shared fixtures: settings, and a fresh, fully migrated database for every test.

Every database test runs on SQLite, and again on PostgreSQL when
``COMMUNEPOL_TEST_POSTGRES_URL`` is set (for example ``postgres://postgres@127.0.0.1:5432/postgres``).
The suite migrates one template database per engine once, then gives each test its own copy:
a copied file on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL. A PostgreSQL URL that is
set but unreachable fails the run; it is never silently skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from tortoise.context import TortoiseContext

from communepol.db.orm import migrate, open_database
from communepol.errors import Unavailable
from communepol.settings import Settings

POSTGRES_URL = os.environ.get("COMMUNEPOL_TEST_POSTGRES_URL", "").strip()
ENGINES = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def _pg_url(database: str) -> str:
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit(parts._replace(path="/" + database))


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(_pg_url(urlsplit(POSTGRES_URL).path.strip("/") or "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate_template(url: str, *, create: bool) -> None:
    async with open_database(url, create=create) as ctx:
        await migrate(ctx)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(_migrate_template(f"sqlite://{path}", create=True))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if not POSTGRES_URL:
        raise RuntimeError("postgres_template used without COMMUNEPOL_TEST_POSTGRES_URL")
    name = f"communepol_tpl_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_migrate_template(_pg_url(name), create=True))
    except (OSError, asyncpg.PostgresError, Unavailable) as err:
        pytest.fail(f"COMMUNEPOL_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {err}")
    yield name
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def fresh_database(request: pytest.FixtureRequest, engine: str, directory: Path) -> Iterator[str]:
    """A new database copied from the migrated template of ``engine``; dropped afterwards."""
    if engine == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = directory / f"{uuid.uuid4().hex[:12]}.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite://{path}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"communepol_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test alone."""
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        secret_key=TEST_SECRET_KEY,
        database_url=database_url,
        data_dir=tmp_path / "data",
        public_base_url="http://127.0.0.1:8080",
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[TortoiseContext]:
    """The test's database, open in the test's task."""
    async with open_database(database_url) as ctx:
        yield ctx
