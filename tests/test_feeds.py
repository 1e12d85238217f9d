"""The Atom feed of a public page: valid Atom 1.0 that a newsreader can parse, the page's
published posts only, in the reader's language, with every text escaped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import (
    Page,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
    Unit,
    UnitLevel,
)
from communepol.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
A = "{http://www.w3.org/2005/Atom}"


async def _page() -> Page:
    unit = await Unit.create(
        code="66001", level=UnitLevel.COMMUNE, kind="Xã", name="Xã Ea Kar", name_folded="xa ea kar"
    )
    page = await Page.create(unit=unit, slug="ca-xa-ea-kar", title="Công an xã Ea Kar")
    warning = await Post.create(
        page=page,
        category=PostCategory.FRAUD_WARNING,
        status=PostStatus.PUBLISHED,
        published_at=datetime(2026, 11, 20, 1, 30, tzinfo=UTC),
    )
    await PostTranslation.create(
        post=warning,
        locale="vi",
        title="Cảnh báo <script>lừa đảo</script>",
        body="Không chuyển tiền & không báo mã OTP.",
    )
    await PostTranslation.create(
        post=warning, locale="en", title="Fraud warning", body="Never share an OTP."
    )
    draft = await Post.create(page=page, category=PostCategory.ANNOUNCEMENT)
    await PostTranslation.create(post=draft, locale="vi", title="Bản nháp", body="chưa đăng")
    return page


async def test_the_feed_is_atom_with_the_published_posts_escaped(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings))
    page = await _page()
    response = await client.get(f"/p/{page.slug}/feed.atom")
    assert response.status == 200
    assert response.content_type == "application/atom+xml"
    raw = await response.read()
    assert b"<script>" not in raw  # escaped as text, never markup
    feed = ET.fromstring(raw)
    assert feed.tag == f"{A}feed"
    assert feed.findtext(f"{A}title") == "Công an xã Ea Kar"
    assert feed.findtext(f"{A}id") == "http://127.0.0.1:8080/p/ca-xa-ea-kar"
    assert feed.findtext(f"{A}updated") == "2026-11-20T01:30:00Z"
    assert feed.find(f"{A}author/{A}name") is not None
    [entry] = feed.findall(f"{A}entry")  # the draft is not in it
    assert entry.findtext(f"{A}title") == "Cảnh báo <script>lừa đảo</script>"
    assert entry.findtext(f"{A}content") == "Không chuyển tiền & không báo mã OTP."
    assert entry.findtext(f"{A}id", "").startswith("tag:127.0.0.1,2025:post-")
    category = entry.find(f"{A}category")
    assert category is not None and category.get("term") == "fraud_warning"
    assert category.get("label") == "Cảnh báo lừa đảo"

    english = ET.fromstring(await (await client.get(f"/p/{page.slug}/feed.atom?lang=en")).read())
    assert english.findtext(f"{A}entry/{A}title") == "Fraud warning"
    html = await (await client.get(f"/p/{page.slug}")).text()
    assert f'href="/p/{page.slug}/feed.atom?lang=vi"' in html
    assert (await client.get("/p/no-such-page/feed.atom")).status == 404
