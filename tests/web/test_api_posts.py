"""Posts through the REST API, as a commune officer and a district supervisor use them: a draft
written, submitted to the approval queue (the page asks approval for its category), approved by
the supervisor — never by the officer (403) — published by the ticker and planned for every
follower (outbox rows), its delivery figures read and the broadcast stopped; an edit at a stale
version refused with 409, fields that are not the author's to set (status, page, approver)
refused with 422, and times read with their offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    Delivery,
    DeliveryStatus,
    Page,
    Post,
    PostStatus,
)
from communepol.i18n import I18n
from communepol.services.posts import Publisher
from communepol.settings import Settings
from tests import pagekit
from tests.web.apikit import ClientFactory, World, world

I18N = I18n.load()


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


def _draft(page: Page, **fields: Any) -> dict[str, Any]:
    return {
        "page_id": page.id,
        "category": "procedure",
        "translations": [
            {
                "locale": "vi",
                "title": "Làm căn cước",
                "body": "Thứ Bảy này công an xã làm căn cước.",
            },
            {"locale": "en", "title": "ID cards", "body": "The commune police make ID cards."},
        ],
        **fields,
    }


async def _page_a(w: World) -> Page:
    return await Page.get(unit_id=w.a.id)


async def test_write_submit_approve_publish_deliver_and_stop(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    w = await world()
    page = await _page_a(w)
    await Page.filter(id=page.id).update(approval_categories=["procedure"])
    bot = await ChannelAccount.get(name="province bot")
    followers = await pagekit.followers(page, bot, 3, prefix="a")

    created = await client.post("/api/v1/posts", json=_draft(page), headers=w.auth("officer A"))
    assert created.status == 201, await created.text()
    post = await created.json()
    assert (post["status"], post["version"], post["page"]["id"]) == ("draft", 1, page.id)
    assert post["title"] == "Làm căn cước" and post["author"] == "Nguyễn Văn An"
    assert post["schedule"] == {"kind": "now", "at": None, "cron": None}
    assert [t["locale"] for t in post["translations"]] == ["vi", "en"]
    path = f"/api/v1/posts/{post['id']}"

    submitted = await (await client.post(f"{path}/submit", headers=w.auth("officer A"))).json()
    assert submitted["status"] == "pending_approval"
    # An officer approves nothing, not even on their own page: 403, and nothing changes.
    refused = await client.post(f"{path}/approve", headers=w.auth("officer A"))
    assert refused.status == 403
    assert (await Post.get(id=post["id"])).status is PostStatus.PENDING_APPROVAL
    waiting = await (await client.get("/api/v1/approvals", headers=w.auth("supervisor D1"))).json()
    assert waiting["approver"] is True
    assert [item["id"] for item in waiting["posts"]] == [post["id"]]
    officer_view = await (await client.get("/api/v1/approvals", headers=w.auth("officer A"))).json()
    assert officer_view == {"approver": False, "posts": [], "alerts": []}
    other = await (await client.get("/api/v1/approvals", headers=w.auth("supervisor D2"))).json()
    assert other["posts"] == []

    response = await client.post(f"{path}/approve", headers=w.auth("supervisor D1"))
    assert response.status == 200, await response.text()
    approved = await response.json()
    assert approved["status"] == "scheduled"
    assert approved["approval"]["approved_by"] == "Lê Văn Cường"
    assert approved["approval"]["approved_at"] is not None
    assert await AuditEvent.filter(action="post.approved", source="api").count() == 1

    [publication_id] = await Publisher(settings, I18N).publish_due(
        datetime.now(UTC) + timedelta(seconds=5)
    )
    rows = await Delivery.filter(publication_id=publication_id).values_list("contact_id", flat=True)
    assert sorted(rows) == sorted(person.id for person in followers)
    shown = await (await client.get(path, headers=w.auth("officer A"))).json()
    assert shown["status"] == "published" and shown["published_at"] is not None
    [figures] = shown["publications"]
    assert (figures["id"], figures["recipients"]) == (publication_id, 3)
    assert figures["deliveries"]["pending"] == 3 and figures["deliveries"]["sent"] == 0
    listed = await (await client.get("/api/v1/posts", headers=w.auth("officer A"))).json()
    assert [(item["id"], item["status"]) for item in listed["items"]] == [(post["id"], "published")]

    stopped = await client.post(
        f"{path}/stop", json={"publication_id": publication_id}, headers=w.auth("officer A")
    )
    assert stopped.status == 200, await stopped.text()
    result = await stopped.json()
    assert result["stopped"] == 3
    assert result["post"]["publications"][0]["status"] == "stopped"
    cancelled = Delivery.filter(publication_id=publication_id, status=DeliveryStatus.CANCELLED)
    assert await cancelled.count() == 3
    again = await client.post(
        f"{path}/stop", json={"publication_id": publication_id}, headers=w.auth("officer A")
    )
    assert again.status == 409


async def test_a_rejected_post_goes_back_to_its_author_as_a_draft(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    page = await _page_a(w)
    await Page.filter(id=page.id).update(approval_categories=["procedure"])
    post = await (
        await client.post("/api/v1/posts", json=_draft(page), headers=w.auth("officer A"))
    ).json()
    path = f"/api/v1/posts/{post['id']}"
    await client.post(f"{path}/submit", headers=w.auth("officer A"))
    empty = await client.post(
        f"{path}/reject", json={"reason": ""}, headers=w.auth("supervisor D1")
    )
    assert (empty.status, (await empty.json())["field"]) == (422, "reason")
    response = await client.post(
        f"{path}/reject", json={"reason": "Thiếu giờ làm việc."}, headers=w.auth("supervisor D1")
    )
    assert response.status == 200
    assert (await response.json())["status"] == "draft"
    assert (
        await client.post(f"{path}/reject", json={"reason": "x"}, headers=w.auth("supervisor D1"))
    ).status == 409


async def test_a_stale_version_is_409_and_the_current_one_edits(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    w = await world()
    page = await _page_a(w)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    vietnam = at.astimezone(settings.tz).isoformat()  # …+07:00
    body = _draft(page, schedule={"kind": "once", "at": vietnam})
    post = await (await client.post("/api/v1/posts", json=body, headers=w.auth("officer A"))).json()
    assert post["schedule"]["at"] == at.isoformat().replace("+00:00", "Z")
    path = f"/api/v1/posts/{post['id']}"

    changed = await client.patch(
        path,
        json={
            "version": 1,
            "translations": [{"locale": "vi", "title": "Mới", "body": "Nội dung."}],
        },
        headers=w.auth("officer A"),
    )
    assert changed.status == 200, await changed.text()
    edited = await changed.json()
    assert edited["version"] == 2 and edited["title"] == "Mới"
    assert edited["schedule"]["at"] == post["schedule"]["at"]  # left out: kept
    stale = await client.patch(
        path, json={"version": 1, "category": "health"}, headers=w.auth("officer A")
    )
    assert stale.status == 409
    assert (await Post.get(id=post["id"])).category.value == "procedure"
    weekly = await client.patch(
        path,
        json={"version": 2, "schedule": {"kind": "cron", "preset": "weekly"}},
        headers=w.auth("officer A"),
    )
    assert (await weekly.json())["schedule"] == {"kind": "cron", "at": None, "cron": "0 7 * * mon"}


@pytest.mark.parametrize(
    ("method", "extra", "field"),
    [
        ("POST", {"status": "published"}, "status"),
        ("POST", {"approved_by": 1}, "approved_by"),
        ("POST", {"version": 7}, "version"),
        ("PATCH", {"page_id": 0}, "page_id"),
        ("PATCH", {"status": "scheduled"}, "status"),
        ("PATCH", {"approved_at": "2026-03-02T07:00:00+07:00"}, "approved_at"),
        ("PATCH", {"alert_id": 1}, "alert_id"),
    ],
)
async def test_fields_that_are_not_the_authors_are_refused(
    client: TestClient[Any, Any], method: str, extra: dict[str, Any], field: str
) -> None:
    w = await world()
    page = await _page_a(w)
    post = await (
        await client.post("/api/v1/posts", json=_draft(page), headers=w.auth("officer A"))
    ).json()
    before = await Post.all().order_by("id").values_list("id", "status", "page_id", "version")
    if method == "POST":
        response = await client.post(
            "/api/v1/posts", json=_draft(page, **extra), headers=w.auth("officer A")
        )
    else:
        response = await client.patch(
            f"/api/v1/posts/{post['id']}",
            json={"version": 1, **extra | ({"page_id": page.id} if field == "page_id" else {})},
            headers=w.auth("officer A"),
        )
    assert response.status == 422
    assert (await response.json())["field"] == field
    after = await Post.all().order_by("id").values_list("id", "status", "page_id", "version")
    assert after == before


async def test_a_time_without_its_offset_is_refused(client: TestClient[Any, Any]) -> None:
    w = await world()
    page = await _page_a(w)
    for at, field in (
        ("2030-03-02T07:00:00", "at"),
        ("ngày mai", "at"),
        ("0001-01-01T00:00:00+07:00", "at"),
    ):
        body = _draft(page, schedule={"kind": "once", "at": at})
        response = await client.post("/api/v1/posts", json=body, headers=w.auth("officer A"))
        assert response.status == 422, at
        assert (await response.json())["field"] == field
    assert await Post.all().count() == 0
