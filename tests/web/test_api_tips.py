"""The tip desk through the REST API as an officer uses it: a tip's card (an anonymous tip
shows only its alias — no platform id, no display name, anywhere in any response), the
officer's actions through the same services as the bot (acknowledged, the reply relayed to the
resident through the vault, resolved with the outcome), each audited as coming from the API,
and a second acknowledge refused with 409."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import AuditEvent, Delivery, TipStatus
from communepol.services.tips import ALIAS_PREFIX
from communepol.settings import Settings
from tests.web.apikit import (
    NAMED_ID,
    NAMED_NAME,
    SENTINEL_ID,
    SENTINEL_NAME,
    ClientFactory,
    ref,
    world,
)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


async def test_an_anonymous_tip_shows_its_alias_and_no_identity(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    seen = []
    for path in (
        f"/api/v1/tips/{ref(w.tip_a)}",
        f"/api/v1/tips/{w.tip_a.reference.lower()}",
        "/api/v1/tips",
        f"/api/v1/tips/{ref(w.tip_a)}/acknowledge",
        f"/api/v1/tips/{ref(w.tip_a)}/reply",
    ):
        method = "POST" if path.endswith(("acknowledge", "reply")) else "GET"
        body = {"text": "Cảm ơn, chúng tôi đang xác minh."} if path.endswith("reply") else None
        response = await client.request(method, path, json=body, headers=w.auth("officer A"))
        assert response.status == 200, await response.text()
        seen.append(await response.text())
    card = await (
        await client.get(f"/api/v1/tips/{ref(w.tip_a)}", headers=w.auth("officer A"))
    ).json()
    assert card["anonymous"] is True
    assert card["sender"] == w.tip_a.alias and card["sender"].startswith(ALIAS_PREFIX)
    for text in seen:
        assert SENTINEL_ID not in text
        assert SENTINEL_NAME not in text and "SENTINEL" not in text


async def test_a_named_tip_shows_the_agreed_name_and_never_the_platform_id(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    response = await client.get(f"/api/v1/tips/{ref(w.tip_a_named)}", headers=w.auth("officer A"))
    card = await response.json()
    assert card["anonymous"] is False and card["sender"] == NAMED_NAME
    assert NAMED_ID not in await response.text()


async def test_the_card_then_acknowledge_reply_resolve(client: TestClient[Any, Any]) -> None:
    w = await world()
    path = f"/api/v1/tips/{ref(w.tip_a)}"
    card = await (await client.get(path, headers=w.auth("officer A"))).json()
    assert card["reference"] == ref(w.tip_a)
    assert (card["category"], card["urgency"], card["status"]) == ("theft", "high", "new")
    assert card["unit"] == {"id": w.a.id, "name": "Xã Ea Kar"}
    assert card["text"] == "Xe đạp bị trộm ở Ea Sinh."
    assert ISO_UTC.match(card["created_at"]) and ISO_UTC.match(card["first_response_due_at"])
    assert [m["direction"] for m in card["thread"]] == ["from_resident"]

    acked = await client.post(f"{path}/acknowledge", headers=w.auth("officer A"))
    assert acked.status == 200
    assert (await acked.json())["status"] == TipStatus.ACKNOWLEDGED.value
    again = await client.post(f"{path}/acknowledge", json={}, headers=w.auth("officer A"))
    assert again.status == 409
    assert await again.json() == {"error": "this tip was already acknowledged"}

    before = await Delivery.all().count()
    replied = await client.post(
        f"{path}/reply", json={"text": "Chúng tôi đang đến."}, headers=w.auth("officer A")
    )
    result = await replied.json()
    assert result["reached"] is True
    assert result["tip"]["thread"][-1] == {
        "direction": "to_resident",
        "author": "Nguyễn Văn An",
        "text": "Chúng tôi đang đến.",
        "created_at": result["tip"]["thread"][-1]["created_at"],
    }
    assert await Delivery.all().count() > before  # relayed to the resident through the vault

    resolved = await client.post(
        f"{path}/resolve", json={"outcome": "Đã tìm thấy xe."}, headers=w.auth("officer A")
    )
    closed = await resolved.json()
    assert (closed["status"], closed["outcome"]) == ("resolved", "Đã tìm thấy xe.")
    assert ISO_UTC.match(closed["resolved_at"])
    late = await client.post(
        f"{path}/resolve", json={"outcome": "Lần nữa."}, headers=w.auth("officer A")
    )
    assert late.status == 409
    actions = (
        await AuditEvent.filter(object_type="tip", source="api")
        .exclude(action="tip.viewed")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert list(actions) == ["tip.acknowledged", "tip.replied", "tip.resolved"]
    # Each card the API answered with (the first read and after each action) is a read.
    assert await AuditEvent.filter(action="tip.viewed", source="api").count() == 4


async def test_the_list_filters_open_and_overdue(client: TestClient[Any, Any]) -> None:
    w = await world()
    await client.post(
        f"/api/v1/tips/{ref(w.tip_a)}/resolve",
        json={"outcome": "Xong."},
        headers=w.auth("officer A"),
    )

    async def refs(query: str) -> list[str]:
        body = await (await client.get(f"/api/v1/tips{query}", headers=w.auth("officer A"))).json()
        return [item["reference"] for item in body["items"]]

    assert await refs("?status=open") == [ref(w.tip_a_named)]
    assert await refs("?status=resolved") == [ref(w.tip_a)]
    assert await refs("?overdue=true") == []
