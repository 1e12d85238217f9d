"""Alerts through the REST API: an alert over a district's two communes waits for a second
person — its issuer approving is refused (403, as in the web), an officer or the other district
cannot even see it (404) — and a second supervisor's approval sends it to the followers of both
communes; its update and its end reach exactly the same people. An alert for one commune goes
out at once. The unit dashboard answers the figures the web's dashboard shows for that unit."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import (
    Alert,
    AlertStatus,
    ChannelAccount,
    Delivery,
    DeliveryKind,
    Page,
    Role,
    Staff,
)
from communepol.services import apitokens, overview
from communepol.services.tips import Tips
from communepol.settings import Settings
from tests import pagekit
from tests.web.apikit import ClientFactory, World, world


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


async def _recipients(alert_id: int) -> set[int]:
    rows = await Delivery.filter(
        publication__post__alert_id=alert_id, kind=DeliveryKind.ALERT
    ).values_list("contact_id", flat=True)
    return {int(row) for row in rows if row is not None}  # type: ignore[call-overload]


async def _second_supervisor(w: World) -> dict[str, str]:
    second = await Staff.create(
        full_name="Võ Thị Hạnh", role=Role.SUPERVISOR, unit=w.d1, username="supervisor.d1b"
    )
    _, token = await apitokens.create_token(pagekit.KEYRING, second, "second script")
    return {"Authorization": f"Bearer {token}"}


MISSING = {
    "category": "missing_person",
    "headline": "Tìm trẻ mất tích: cháu Y Nhi, 7 tuổi",
    "description": "Cháu mặc áo đỏ, quần xanh.",
    "subject_name": "Y Nhi",
    "last_seen_place": "Chợ Ea Kar",
    "last_seen_at": "2026-03-02T07:45:00+07:00",
    "contact_phone": "0912 345 678",
}


async def test_two_communes_need_a_second_person_and_every_message_reaches_the_same_people(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    bot = await ChannelAccount.get(name="province bot")
    people = set()
    for unit, prefix in ((w.a, "a"), (w.b, "b")):
        page = await Page.get(unit_id=unit.id)
        people |= {person.id for person in await pagekit.followers(page, bot, 2, prefix=prefix)}
    page_c = await Page.get(unit_id=w.c.id)
    await pagekit.followers(page_c, bot, 2, prefix="c")

    response = await client.post(
        "/api/v1/alerts", json=MISSING | {"units": [w.d1.id]}, headers=w.auth("supervisor D1")
    )
    assert response.status == 201, await response.text()
    alert = await response.json()
    assert (alert["status"], alert["msg_type"]) == ("pending_approval", "Alert")
    assert alert["contact_phone"] == "+84912345678"
    assert alert["last_seen_at"] == "2026-03-02T00:45:00Z"
    assert alert["created_by"] == "Lê Văn Cường" and alert["has_photo"] is False
    path = f"/api/v1/alerts/{alert['id']}"
    assert await _recipients(alert["id"]) == set()

    refused = await client.post(f"{path}/approve", headers=w.auth("supervisor D1"))
    assert refused.status == 403  # the issuer: the web's answer too
    for outsider in ("officer A", "supervisor D2"):  # B's page is outside A's scope
        assert (await client.post(f"{path}/approve", headers=w.auth(outsider))).status == 404
        assert (await client.get(path, headers=w.auth(outsider))).status == 404
    assert (await Alert.get(id=alert["id"])).status is AlertStatus.PENDING_APPROVAL

    second = await _second_supervisor(w)
    waiting = await (await client.get("/api/v1/approvals", headers=second)).json()
    assert [item["id"] for item in waiting["alerts"]] == [alert["id"]]
    mine = await (await client.get("/api/v1/approvals", headers=w.auth("supervisor D1"))).json()
    assert mine["alerts"] == []  # nobody approves their own
    response = await client.post(f"{path}/approve", headers=second)
    assert response.status == 200, await response.text()
    sent = await response.json()
    assert (sent["status"], sent["approved_by"]) == ("active", "Võ Thị Hạnh")
    assert await _recipients(alert["id"]) == people  # A's and B's followers, not C's

    update = await client.post(
        f"{path}/update",
        json={"headline": "Cập nhật: cháu Y Nhi được thấy ở Ea Păl"},
        headers=w.auth("supervisor D1"),
    )
    assert update.status == 200, await update.text()
    updated = await update.json()
    assert (updated["msg_type"], updated["category"]) == ("Update", "missing_person")
    assert await _recipients(updated["id"]) == people
    cancel = await client.post(
        f"{path}/cancel", json={"note": "Đã tìm thấy cháu."}, headers=w.auth("supervisor D1")
    )
    assert cancel.status == 200, await cancel.text()
    ended = await cancel.json()
    assert ended["msg_type"] == "Cancel"
    assert await _recipients(ended["id"]) == people
    assert {a.status for a in await Alert.all()} == {AlertStatus.CLOSED}

    details = await (await client.get(path, headers=second)).json()
    assert details["two_person"] is True
    assert [(m["msg_type"], m["recipients"]) for m in details["messages"]] == [
        ("Alert", 4),
        ("Update", 4),
        ("Cancel", 4),
    ]
    again = await client.post(f"{path}/cancel", json={}, headers=w.auth("supervisor D1"))
    assert again.status == 409


async def test_one_commune_goes_out_at_once_and_a_refusal_needs_a_reason(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    page = await Page.get(unit_id=w.a.id)
    response = await client.post(
        "/api/v1/alerts", json=MISSING | {"pages": [page.id]}, headers=w.auth("officer A")
    )
    assert response.status == 201
    alert = await response.json()
    assert alert["status"] == "active"
    listed = await (await client.get("/api/v1/alerts", headers=w.auth("officer A"))).json()
    assert [item["id"] for item in listed["items"]] == [alert["id"]]
    assert (await (await client.get("/api/v1/alerts", headers=w.auth("officer B"))).json())[
        "items"
    ] == []
    # Another commune's page, no target, a category alerts are not issued under: refused.
    page_b = await Page.get(unit_id=w.b.id)
    for body, status in (
        (MISSING | {"pages": [page_b.id]}, 404),
        (MISSING, 422),
        (MISSING | {"pages": [page.id], "category": "procedure"}, 422),
        (MISSING | {"pages": [page.id], "status": "active"}, 422),
        (MISSING | {"pages": [page.id], "approved_by": 1}, 422),
    ):
        refused = await client.post("/api/v1/alerts", json=body, headers=w.auth("officer A"))
        assert refused.status == status, body
    assert await Alert.all().count() == 1

    multi = await (
        await client.post(
            "/api/v1/alerts", json=MISSING | {"units": [w.d1.id]}, headers=w.auth("supervisor D1")
        )
    ).json()
    second = await _second_supervisor(w)
    path = f"/api/v1/alerts/{multi['id']}/reject"
    blank = await client.post(path, json={"reason": " "}, headers=second)
    assert blank.status == 422
    own = await client.post(path, json={"reason": "Sai."}, headers=w.auth("supervisor D1"))
    assert own.status == 403
    response = await client.post(path, json={"reason": "Chưa xác minh."}, headers=second)
    assert (await response.json())["status"] == "closed"
    assert await Delivery.filter(publication__post__alert_id=multi["id"]).count() == 0


async def test_the_dashboard_is_the_webs_for_the_same_unit(client: TestClient[Any, Any]) -> None:
    w = await world()
    bot = await ChannelAccount.get(name="province bot")
    await pagekit.followers(await Page.get(unit_id=w.a.id), bot, 3, prefix="a")
    await pagekit.followers(await Page.get(unit_id=w.b.id), bot, 1, prefix="b")
    desk = Tips(pagekit.KEYRING)
    await desk.acknowledge(w.officer_a, w.tip_a.id, source="test")
    await desk.resolve(w.officer_a, w.tip_a.id, "Đã tìm thấy xe.", source="test")

    async def api(who: str, unit_id: int) -> dict[str, Any]:
        response = await client.get(f"/api/v1/units/{unit_id}/dashboard", headers=w.auth(who))
        assert response.status == 200, await response.text()
        return dict(await response.json())

    for who, staff, unit in (
        ("officer A", w.officer_a, w.a),
        ("supervisor D1", w.supervisor_d1, w.d1),
        ("supervisor D1", w.officer_a, w.a),  # the district sees A as A's officer does
    ):
        shown = await api(who, unit.id)
        web = await overview.dashboard(staff)  # what the web's dashboard renders
        assert shown["unit"]["id"] == web.unit.id == unit.id
        assert (shown["open_tips"], shown["overdue_tips"]) == (web.open_tips, web.overdue_tips)
        assert (shown["received"], shown["answered"]) == (web.received, web.answered)
        assert shown["first_response_by_commune"] == [
            {"name": bar.label, "value": bar.value} for bar in web.response_bars
        ]
        assert shown["median_first_response_minutes"] == web.median_first_response_minutes
        assert shown["median_resolution_minutes"] == web.median_resolution_minutes
        assert (shown["followers"], shown["followers_gained"], shown["published"]) == (
            web.followers,
            web.followers_gained,
            web.published,
        )
        assert shown["coverage"]["registered"] == web.coverage.registered
    district = await api("supervisor D1", w.d1.id)
    assert (district["open_tips"], district["received"], district["answered"]) == (2, 3, 1)
    assert (district["followers"], district["followers_gained"]) == (4, 4)
    assert district["median_resolution_minutes"] is not None
    assert district["coverage"]["registered"] == 2
    commune = await api("officer A", w.a.id)
    assert (commune["open_tips"], commune["followers"]) == (1, 3)
    for who in ("officer B", "supervisor D2"):
        refused = await client.get(f"/api/v1/units/{w.a.id}/dashboard", headers=w.auth(who))
        assert refused.status == 404
    assert (
        await client.get(f"/api/v1/units/{w.d1.id}/dashboard", headers=w.auth("officer A"))
    ).status == 404
