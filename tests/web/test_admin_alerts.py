"""The admin screens for alerts through the real application: an alert across two communes
waits for a second person — the issuer cannot approve it, another supervisor can, and then it
is delivered; its update and its end, sent from the page, reach exactly its recipients (as the
service test `tests/services/test_alerts.py` checks for the service); an alert for one commune
goes out at once; refused input keeps the form; and every alert route × role stays inside the
subtree, refusing a missing CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from communepol.db.models import (
    Alert,
    AlertMessageType,
    AlertStatus,
    Contact,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Page,
    Role,
    Staff,
    Unit,
)
from communepol.i18n import I18n
from communepol.services import alerts, follows
from communepol.settings import Settings
from tests import pagekit
from tests.web.adminkit import (
    Browser,
    Clock,
    Scene,
    csrf_of,
    scene,
    signed_in,
    web_staff,
)
from tests.web.test_admin_posts import _photo


@dataclass
class Places:
    scene: Scene
    commune_a2: Unit
    page_a: Page
    page_a2: Page
    page_b: Page
    supervisor_3: Staff  # a second supervisor of district 1
    account: pagekit.ChannelAccount
    followers: dict[str, list[int]]


@pytest.fixture
async def places(client: TestClient[Any, Any]) -> Places:
    people = await scene()
    commune_a2 = await pagekit.unit("Xã Ea Tar", parent=people.district_1)
    bot = await pagekit.account()
    page_a = await pagekit.page(people.commune_a, "ca-ea-pok", bot)
    page_a2 = await pagekit.page(commune_a2, "ca-ea-tar", bot)
    page_b = await pagekit.page(people.commune_b, "ca-cu-hue", bot)
    followers = {
        "a": [c.id for c in await pagekit.followers(page_a, bot, 2, prefix="a")],
        "a2": [c.id for c in await pagekit.followers(page_a2, bot, 2, prefix="a2")],
        "b": [c.id for c in await pagekit.followers(page_b, bot, 2, prefix="b")],
    }
    third = await web_staff(people.district_1, "supervisor.three", Role.SUPERVISOR)
    return Places(people, commune_a2, page_a, page_a2, page_b, third, bot, followers)


async def _recipients(alert_id: int) -> set[int]:
    rows = await Delivery.filter(
        publication__post__alert_id=alert_id, kind=DeliveryKind.ALERT
    ).values_list("contact_id", flat=True)
    return {int(row) for row in rows if row is not None}  # type: ignore[call-overload]


def _missing_child(token: str, **targets: Any) -> dict[str, Any]:
    return {
        "csrf": token,
        "category": "missing_person",
        "headline": "Tìm trẻ mất tích: cháu Y Nhi, 7 tuổi",
        "description": "Cháu mặc áo đỏ, quần xanh.",
        "subject_name": "Y Nhi",
        "last_seen_place": "Chợ Ea Pốk",
        "last_seen_at": "2026-03-02T07:45",
        "contact_phone": "0912 345 678",
        **targets,
    }


async def test_an_alert_across_two_communes_needs_a_second_person_then_reaches_its_people(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    secrets: dict[int, str] = {}
    issuer = await signed_in(client, people.supervisor_1, clock, secrets)
    token = await issuer.csrf("/admin/alerts/new")
    response = await issuer.post(
        "/admin/alerts/new", _missing_child(token, units=str(people.district_1.id))
    )
    assert response.status == 303, await response.text()
    alert = await Alert.get(headline="Tìm trẻ mất tích: cháu Y Nhi, 7 tuổi")
    assert response.headers["Location"] == f"/admin/alerts/{alert.id}?sent=1"
    assert alert.status is AlertStatus.PENDING_APPROVAL
    assert alert.subject_name == "Y Nhi" and alert.contact_phone == "+84912345678"
    assert alert.last_seen_at is not None and alert.last_seen_at.hour == 0  # 07:45 in Vietnam
    assert await Delivery.filter(kind=DeliveryKind.ALERT).count() == 0  # nothing out yet
    page = await (await issuer.get(f"/admin/alerts/{alert.id}?lang=en")).text()
    assert "Waiting for a second person" in page
    assert f"/admin/alerts/{alert.id}/approve" not in page  # no button for the issuer

    # The issuer cannot approve it, even by posting the form.
    refused = await issuer.post(f"/admin/alerts/{alert.id}/approve", {"csrf": token})
    assert refused.status == 403
    assert (await Alert.get(id=alert.id)).status is AlertStatus.PENDING_APPROVAL
    # A supervisor of the other district does not see it anywhere.
    other = await signed_in(client, people.supervisor_2, clock, secrets)
    assert "Y Nhi" not in await (await other.get("/admin/approvals")).text()
    assert (await other.get(f"/admin/alerts/{alert.id}")).status == 404
    other_token = await other.csrf("/admin/alerts")
    assert (
        await other.post(f"/admin/alerts/{alert.id}/approve", {"csrf": other_token})
    ).status == 404
    assert (await Alert.get(id=alert.id)).status is AlertStatus.PENDING_APPROVAL

    second = await signed_in(client, places.supervisor_3, clock, secrets)
    queue = await (await second.get("/admin/approvals")).text()
    assert f'data-alert="{alert.id}"' in queue
    response = await second.post(f"/admin/alerts/{alert.id}/approve", {"csrf": csrf_of(queue)})
    assert response.status == 303
    approved = await Alert.get(id=alert.id)
    assert approved.status is AlertStatus.ACTIVE
    assert approved.approved_by_id == places.supervisor_3.id  # type: ignore[attr-defined]
    followers = places.followers
    reached = await _recipients(alert.id)
    assert reached == set(followers["a"]) | set(followers["a2"])  # both communes, not B's

    # The update and the end, sent from the page, reach exactly the alert's recipients.
    # After the alert: someone new follows one of its pages; one of its people stops following.
    latecomer = await pagekit.contact(places.account, "late")
    await Follow.create(page=places.page_a, contact=latecomer, status=FollowStatus.ACTIVE)
    gone = await Contact.get(id=followers["a2"][0])
    await follows.unfollow(gone)
    page = await (await issuer.get(f"/admin/alerts/{alert.id}")).text()
    token = csrf_of(page)
    response = await issuer.post(
        f"/admin/alerts/{alert.id}/update",
        {
            "csrf": token,
            "category": "missing_person",
            "headline": "Cập nhật: cháu Y Nhi được thấy ở xã Ea Tar",
            "last_seen_place": "Trường tiểu học Ea Tar",
        },
    )
    assert (response.status, response.headers["Location"]) == (
        303,
        f"/admin/alerts/{alert.id}?done=updated",
    )
    update = await Alert.get(msg_type=AlertMessageType.UPDATE)
    assert update.references_id == alert.id  # type: ignore[attr-defined]
    assert await _recipients(update.id) == reached - {gone.id}

    response = await issuer.post(
        f"/admin/alerts/{alert.id}/cancel", {"csrf": token, "note": "Đã tìm thấy cháu."}
    )
    assert response.status == 303
    cancel = await Alert.get(msg_type=AlertMessageType.CANCEL)
    assert cancel.references_id == update.id  # type: ignore[attr-defined]
    assert await _recipients(cancel.id) == reached - {gone.id}
    assert {a.status for a in await Alert.all()} == {AlertStatus.CLOSED}
    pending = Delivery.filter(status=DeliveryStatus.PENDING, kind=DeliveryKind.ALERT)
    assert await pending.filter(publication__post__alert_id=alert.id).count() == 0
    assert await pending.filter(publication__post__alert_id=cancel.id).count() == len(
        reached - {gone.id}
    )
    shown = await (await issuer.get(f"/admin/alerts/{alert.id}?lang=en")).text()
    assert "Ended" in shown
    for message in (alert, update, cancel):
        assert f"/a/{message.identifier}/cap.xml" in shown
    assert f"/admin/alerts/{alert.id}/update" not in shown  # nothing more to send
    counts = re.findall(r'<tr data-message="(\d+)">.*?<td>(\d+)</td>', shown, re.S)
    assert [(int(i), int(n)) for i, n in counts] == [
        (alert.id, len(reached)),
        (update.id, len(reached) - 1),
        (cancel.id, len(reached) - 1),
    ]


async def test_an_alert_for_one_commune_goes_out_at_once_and_refused_input_keeps_the_form(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    officer = await signed_in(client, people.officer_a, clock, {})
    token = await officer.csrf("/admin/alerts/new")
    missing = await officer.post("/admin/alerts/new?lang=en", _missing_child(token, headline="  "))
    assert missing.status == 400
    html = unescape(await missing.text())
    assert 'id="error-headline"' in html and "Write a headline" in html
    assert "Cháu mặc áo đỏ, quần xanh." in html
    no_target = await officer.post("/admin/alerts/new?lang=en", _missing_child(token))
    assert no_target.status == 400
    assert "Choose at least one page or unit." in await no_target.text()
    bad_phone = await officer.post(
        "/admin/alerts/new?lang=en",
        _missing_child(token, contact_phone="12", pages=str(places.page_a.id)),
    )
    assert bad_phone.status == 400
    assert "Not a Vietnamese phone number." in await bad_phone.text()
    assert await Alert.all().count() == 0

    data = {
        "csrf": token,
        "category": "fraud_warning",
        "headline": "Cảnh báo giả danh công an gọi điện",
        "pages": str(places.page_a.id),
    }
    response = await officer.post("/admin/alerts/new", data)
    assert response.status == 303
    alert = await Alert.get(headline="Cảnh báo giả danh công an gọi điện")
    assert alert.status is AlertStatus.ACTIVE
    assert await _recipients(alert.id) == set(places.followers["a"])
    listed = await (await officer.get("/admin/alerts?lang=en")).text()
    assert "Cảnh báo giả danh công an gọi điện" in listed and "Out" in listed


async def test_an_alerts_photo_over_1_mib_is_taken_and_one_over_5_mb_refused_with_the_form_kept(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    officer = await signed_in(client, places.scene.officer_a, clock, {})
    token = await officer.csrf("/admin/alerts/new")
    fields = _missing_child(token, pages=str(places.page_a.id))
    too_big = _photo(1400, 1300)
    form = FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("photo", too_big, filename="chau-y-nhi.png", content_type="image/png")
    refused = await officer.post("/admin/alerts/new?lang=en", form)
    assert refused.status == 400
    html = unescape(await refused.text())
    assert "Cháu mặc áo đỏ, quần xanh." in html  # what was typed is kept
    # Said next to the photo, not against the headline.
    assert 'id="error-photo"' in html and 'id="error-headline"' not in html
    assert await Alert.all().count() == 0

    photo = _photo(900, 600)  # about 1.6 MB: more than the application's 1 MiB cap
    form = FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("photo", photo, filename="chau-y-nhi.png", content_type="image/png")
    response = await officer.post("/admin/alerts/new", form)
    assert response.status == 303, response.status
    alert = await Alert.get(headline=fields["headline"])
    assert alert.photo_path is not None
    stored = (settings.data_dir / alert.photo_path).read_bytes()
    assert stored.startswith(b"\x89PNG") and len(stored) > 1024 * 1024
    assert b"12.68N" not in stored  # its place is gone


# --- the scope matrix ----------------------------------------------------------------------

A, B = "A", "B"
ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
SEES = {
    "officer_a": {A},
    "officer_b": {B},
    "supervisor_1": {A},
    "supervisor_2": {B},
    "admin": {A, B},
}
HEADLINE_OF = {A: "Lừa đảo ở xã Ea Pốk", B: "Lừa đảo ở xã Cư Huê"}


async def test_every_alert_route_keeps_each_role_in_its_subtree_and_refuses_missing_csrf(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    people = places.scene
    service = alerts.Alerts(settings, I18n.load())
    pages = {A: places.page_a, B: places.page_b}
    issuers = {A: people.officer_a, B: people.officer_b}
    alert_of = {}
    for commune in (A, B):
        created = await alerts.create_alert(
            issuers[commune],
            alerts.AlertInput(
                category="fraud_warning",
                headline=HEADLINE_OF[commune],
                pages=(pages[commune].id,),
            ),
        )
        alert_of[commune] = await service.send(issuers[commune], created.id)
    secrets: dict[int, str] = {}
    browsers = {
        role: await signed_in(client, getattr(people, role), clock, secrets) for role in ROLES
    }
    problems: list[str] = []

    def expect(cell: str, got: int, wanted: int) -> None:
        if got != wanted:
            problems.append(f"{cell}: {got}, expected {wanted}")

    def leaks(html: str, role: str) -> None:
        for commune in (A, B):
            if commune not in SEES[role] and HEADLINE_OF[commune] in unescape(html):
                problems.append(f"{role} sees commune {commune}'s alert")

    for role in ROLES:
        browser = browsers[role]
        for path in ("/admin/alerts", "/admin/alerts/new", "/admin/approvals"):
            response = await browser.get(path)
            expect(f"{role} GET {path}", response.status, 200)
            assert response.headers["Cache-Control"] == "no-store"
            html = await response.text()
            leaks(html, role)
            if path == "/admin/alerts":
                for commune in SEES[role]:
                    assert HEADLINE_OF[commune] in unescape(html), (role, commune)
        for commune in (A, B):
            allowed = commune in SEES[role]
            alert = alert_of[commune]
            response = await browser.get(f"/admin/alerts/{alert.id}")
            expect(f"{role} GET alert {commune}", response.status, 200 if allowed else 404)
            leaks(await response.text(), role)
            if allowed:
                continue
            token = csrf_of(await (await browser.get("/admin/password")).text())
            writes = {
                f"/admin/alerts/{alert.id}/approve": {"csrf": token},
                f"/admin/alerts/{alert.id}/reject": {"csrf": token, "reason": "Lén"},
                f"/admin/alerts/{alert.id}/update": {
                    "csrf": token,
                    "category": "fraud_warning",
                    "headline": "Lén",
                },
                f"/admin/alerts/{alert.id}/cancel": {"csrf": token, "note": "Lén"},
            }
            for path, data in writes.items():
                response = await browser.post(path, data)
                expect(f"{role} POST {path}", response.status, 404)
                leaks(await response.text(), role)
        # An alert naming a page of another commune is refused as not found.
        own = next(iter(SEES[role]))
        other = B if own == A else A
        if other not in SEES[role]:
            token = csrf_of(await (await browser.get("/admin/password")).text())
            response = await browser.post(
                "/admin/alerts/new",
                {
                    "csrf": token,
                    "category": "fraud_warning",
                    "headline": "Lén",
                    "pages": str(pages[other].id),
                },
            )
            expect(f"{role} POST new alert on {other}'s page", response.status, 404)

    officer = browsers["officer_a"]
    token = csrf_of(await (await officer.get("/admin/password")).text())
    alert = alert_of[A]
    writes = {
        "/admin/alerts/new": {
            "category": "fraud_warning",
            "headline": "Không mã",
            "pages": str(places.page_a.id),
        },
        f"/admin/alerts/{alert.id}/approve": {},
        f"/admin/alerts/{alert.id}/reject": {"reason": "Không mã"},
        f"/admin/alerts/{alert.id}/update": {"category": "fraud_warning", "headline": "Không mã"},
        f"/admin/alerts/{alert.id}/cancel": {"note": "Không mã"},
    }
    for path, data in writes.items():
        response = await officer.post(path, data)
        expect(f"POST {path} without CSRF", response.status, 403)
        response = await officer.post(path, {**data, "csrf": token}, origin="https://evil.example")
        expect(f"POST {path} from another site", response.status, 403)
        response = await Browser(client).post(path, data)
        expect(f"anonymous POST {path}", response.status, 403)
    for path in ("/admin/alerts", "/admin/alerts/new", f"/admin/alerts/{alert.id}"):
        response = await Browser(client).get(path)
        expect(f"anonymous GET {path}", response.status, 303)
    assert problems == []
    assert not await Alert.filter(headline__in=["Lén", "Không mã"]).exists()
    assert await Alert.all().count() == 2
    assert {a.status for a in await Alert.all()} == {AlertStatus.ACTIVE}
