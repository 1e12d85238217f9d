"""Fixtures for the browser tests: the real application served on 127.0.0.1, and Playwright's
async API driving Debian's Chromium (``/usr/bin/chromium``; ``make test`` installs it as root).

One browser for the whole session, a fresh context (cookies, storage) for every test, and a
``screenshot`` helper saving a full-page picture to ``test-artifacts/browser/<test>.png``.

These tests run on SQLite only: a browser exercises the pages, forms, cookies, CSRF and the
layout, none of which depends on the engine — the same routes and services are tested on both
engines by tests/web — and a second engine would double the slowest part of the suite.

A missing Chromium FAILS these tests (CI must run them). A developer without it may set
``COMMUNEPOL_SKIP_BROWSER=1`` to skip them on purpose; the skip says so.

Every test here and its async fixtures run in the session's event loop (the browser belongs
to that loop); the test module marks itself with ``loop_scope="session"``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import pkgutil
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from communepol import services
from communepol.app import create_app
from communepol.services.staff import hash_password
from communepol.settings import Settings
from tests.conftest import TEST_SECRET_KEY, fresh_database
from tests.web import adminkit
from tests.web.adminkit import Clock, install_clock

CHROMIUM = Path(os.environ.get("COMMUNEPOL_CHROMIUM", "/usr/bin/chromium"))
SKIP_VARIABLE = "COMMUNEPOL_SKIP_BROWSER"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# Headless, and nothing that reaches out to the network (the machine has none; without the
# background-networking flags Chromium stalls trying).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000

Screenshot = Callable[..., Awaitable[Path]]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """The system Chromium, or a clear failure naming the package (a skip only on request)."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"browser tests skipped: {SKIP_VARIABLE}=1 is set (CI never sets it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser tests need Debian's chromium package, and {CHROMIUM} is missing: "
            f"run `make test` as root or `apt-get install chromium` "
            f"(or set {SKIP_VARIABLE}=1 to skip them on purpose)",
            pytrace=False,
        )
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium(chromium_path: Path) -> AsyncIterator[Any]:
    """One headless Chromium for the whole session."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - the dev dependencies carry it
        pytest.fail("the browser tests need the playwright package: run `make install`")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite only (see the module's docstring)."""
    with fresh_database(request, "sqlite", tmp_path) as url:
        yield url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, port: int) -> Settings:
    # The public address is the one the browser uses, so its Origin is this site's.
    return Settings(
        secret_key=TEST_SECRET_KEY,
        database_url=database_url,
        data_dir=tmp_path / "data",
        public_base_url=f"http://127.0.0.1:{port}",
    )


def _services_with_a_clock() -> list[ModuleType]:
    """Every service module that reads the time (``from communepol.clock import utcnow``)."""
    found = []
    for info in pkgutil.iter_modules(services.__path__):
        module = importlib.import_module(f"{services.__name__}.{info.name}")
        if callable(getattr(module, "utcnow", None)):
            found.append(module)
    return found


@functools.cache
def _one_hash(password: str) -> str:
    return hash_password(password)


@pytest.fixture(autouse=True)
def _staff_share_one_password_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeded staff all get one argon2 hash of the test password, made once: a hash takes
    a quarter of a second, and each test seeds five people. (The server still verifies it at
    every login, as it would any hash.)"""
    monkeypatch.setattr(adminkit, "hash_password", _one_hash)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The server's time, for every service (sessions, codes, deadlines, stored timestamps,
    the dashboard's 30 days); it moves only when the test moves it."""
    return install_clock(monkeypatch, *_services_with_a_clock())


@pytest_asyncio.fixture(loop_scope="session")
async def server(settings: Settings, port: int, clock: Clock) -> AsyncIterator[str]:
    """The whole application (its database opened by its own start-up), HTTP only: the
    workers do not run, so what it would send stays in the outbox for the test to read."""
    app = create_app(settings, run_workers=False)
    test_server = TestServer(app, host="127.0.0.1", port=port)
    await test_server.start_server()
    try:
        yield settings.public_base_url
    finally:
        await test_server.close()


@contextlib.asynccontextmanager
async def open_context(chromium: Any, server: str, **options: Any) -> AsyncIterator[Any]:
    """A fresh browser context on ``server`` (no cookies but the ``lang`` one the language
    switch sets: English pages; a desktop window unless ``options`` say otherwise). Uncaught
    script errors and Content-Security-Policy refusals on any of its pages fail the test."""
    options.setdefault("viewport", {"width": 1280, "height": 900})
    ctx = await chromium.new_context(base_url=server, **options)
    ctx.set_default_timeout(TIMEOUT_MS)
    await ctx.add_cookies([{"name": "lang", "value": "en", "url": server}])
    problems: list[str] = []

    def console(message: Any) -> None:
        if re.search(r"Content Security Policy|Refused to", message.text):
            problems.append(f"console: {message.text}")

    def watch(page: Any) -> None:
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", console)

    ctx.on("page", watch)
    try:
        yield ctx
    finally:
        await ctx.close()
    assert not problems, problems


@pytest_asyncio.fixture(loop_scope="session")
async def context(chromium: Any, server: str) -> AsyncIterator[Any]:
    """A fresh browser context for this test (see `open_context`)."""
    async with open_context(chromium, server) as ctx:
        yield ctx


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: Any) -> Any:
    return await context.new_page()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """``await screenshot(page)`` saves the full page to test-artifacts/browser/<test>.png
    (``suffix`` for a second picture of the same test) and prints where."""

    async def take(target: Any, suffix: str = "") -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name) + (f"-{suffix}" if suffix else "")
        path = ARTIFACTS / f"{name}.png"
        await target.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return take
