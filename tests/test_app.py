"""The web skeleton: health, readiness against the real database, metrics, public pages,
errors without stack traces, and security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.orm import migrate, open_database
from communepol.errors import Unavailable
from communepol.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))


async def test_healthz(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_queries_the_database(client: TestClient[Any, Any]) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["database"] == "ok"


async def test_metrics_count_requests_by_route_pattern(client: TestClient[Any, Any]) -> None:
    await client.get("/healthz")
    await client.get("/p/no-such-page")
    body = await (await client.get("/metrics")).text()
    assert 'communepol_http_requests_total{route="/healthz",status="2xx"} 1.0' in body
    assert 'communepol_http_requests_total{route="/p/{slug}",status="4xx"} 1.0' in body
    assert "no-such-page" not in body


async def test_unknown_page_is_a_plain_404(client: TestClient[Any, Any]) -> None:
    response = await client.get("/p/khong-co")
    assert response.status == 404
    text = await response.text()
    assert "Traceback" not in text


async def test_security_headers(client: TestClient[Any, Any]) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_index_speaks_vietnamese_by_default_and_english_on_request(
    client: TestClient[Any, Any],
) -> None:
    vi = await (await client.get("/")).text()
    en = await (await client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})).text()
    assert 'lang="vi"' in vi and "Trang thông tin" in vi
    assert 'lang="en"' in en and "Information pages" in en


async def test_an_unmigrated_database_refuses_to_start(
    tmp_path: Any, aiohttp_client: ClientFactory
) -> None:
    settings = Settings(secret_key="x" * 40, database_url=f"sqlite://{tmp_path}/new.sqlite3")
    with pytest.raises(Unavailable, match="communepol db migrate"):
        await aiohttp_client(create_app(settings))
    async with open_database(settings.database_url) as ctx:
        await migrate(ctx)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/readyz")).status == 200


async def test_a_chosen_language_is_remembered(client: TestClient[Any, Any]) -> None:
    first = await client.get("/?lang=en", headers={"Accept-Language": "vi-VN"})
    assert 'lang="en"' in await first.text()
    assert first.cookies["lang"].value == "en"
    # The next page, with a Vietnamese browser, stays in the chosen language.
    second = await client.get("/", headers={"Accept-Language": "vi-VN"})
    assert 'lang="en"' in await second.text()
    ignored = await client.get("/?lang=xx")
    assert "lang" not in ignored.cookies
