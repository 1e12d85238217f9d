"""The public face of alerts: the CAP 1.2 document of every sent message (elements in the
standard's order, references to the earlier messages, local times, escaped text), the web
view with the whole chain, the alerts on a page, and the photo route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import (
    Alert,
    AlertMessageType,
    AlertStatus,
    AlertTarget,
    Page,
    Unit,
    UnitLevel,
)
from communepol.i18n import I18n
from communepol.services import alertviews
from communepol.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
NS = "urn:oasis:names:tc:emergency:cap:1.2"
C = f"{{{NS}}}"
SENDER = "communepol@127.0.0.1"
BASE = "http://127.0.0.1:8080"

# CAP 1.2 §3.2 (and the schema's sequences): the order elements must come in.
ALERT_ORDER = [
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "source",
    "scope",
    "restriction",
    "addresses",
    "code",
    "note",
    "references",
    "incidents",
    "info",
]
ALERT_REQUIRED = {"identifier", "sender", "sent", "status", "msgType", "scope"}
INFO_ORDER = [
    "language",
    "category",
    "event",
    "responseType",
    "urgency",
    "severity",
    "certainty",
    "audience",
    "eventCode",
    "effective",
    "onset",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
    "web",
    "contact",
    "parameter",
    "resource",
    "area",
]
INFO_REQUIRED = {"category", "event", "urgency", "severity", "certainty"}
RESOURCE_ORDER = ["resourceDesc", "mimeType", "size", "uri", "derefUri", "digest"]
AREA_ORDER = ["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"]

HEADLINE = "Tìm cháu <script>alert(1)</script> & gia đình\x07"
DESCRIPTION = "Cháu đi lạc từ chiều & chưa về nhà. <b>Ai thấy</b> xin báo."


def _tags(element: ET.Element) -> list[str]:
    tags = []
    for child in element:
        assert child.tag.startswith(C), child.tag
        tags.append(child.tag[len(C) :])
    return tags


def _assert_order(element: ET.Element, order: list[str], required: set[str]) -> list[str]:
    tags = _tags(element)
    assert required <= set(tags), f"missing {required - set(tags)}"
    assert set(tags) <= set(order), f"unknown {set(tags) - set(order)}"
    positions = [order.index(tag) for tag in tags]
    assert positions == sorted(positions), f"out of order: {tags}"
    return tags


@dataclass
class Scene:
    province: Unit
    commune: Unit
    other_commune: Unit
    page: Page
    sibling_page: Page
    other_page: Page
    original: Alert


async def _scene() -> Scene:
    province = await Unit.create(
        code="66",
        level=UnitLevel.PROVINCE,
        kind="Tỉnh",
        name="Tỉnh Đắk Lắk",
        name_folded="tinh dak lak",
    )
    commune = await Unit.create(
        code="66001",
        level=UnitLevel.COMMUNE,
        kind="Xã",
        name="Xã Ea Kar",
        name_folded="xa ea kar",
        parent=province,
        path=f"/{province.id}/",
    )
    other_commune = await Unit.create(
        code="66002",
        level=UnitLevel.COMMUNE,
        kind="Xã",
        name="Xã Ea Kly",
        name_folded="xa ea kly",
        parent=province,
        path=f"/{province.id}/",
    )
    page = await Page.create(unit=commune, slug="ca-xa-ea-kar", title="Công an xã Ea Kar")
    sibling_page = await Page.create(unit=commune, slug="ea-kar-thon-1", title="Thôn 1 Ea Kar")
    other_page = await Page.create(
        unit=other_commune, slug="ca-xa-ea-kly", title="Công an xã Ea Kly"
    )
    original = await Alert.create(
        identifier="ea-kar.2026-001",
        issuing_unit=commune,
        msg_type=AlertMessageType.ALERT,
        status=AlertStatus.ACTIVE,
        category="missing_person",
        urgency="Immediate",
        severity="Severe",
        certainty="Likely",
        headline=HEADLINE,
        description=DESCRIPTION,
        instruction="Gọi ngay cho công an xã.",
        subject_name="Nguyễn Văn A",
        subject_description="Nam, 8 tuổi, áo đỏ",
        last_seen_place="Chợ Ea Kar",
        last_seen_at=datetime(2026, 11, 23, 2, 30, tzinfo=UTC),
        contact_phone="0262 3625 113",
        photo_path="alerts/a1.jpg",
        sent_at=datetime(2026, 11, 23, 3, 0, tzinfo=UTC),
        expires_at=datetime(2099, 1, 1, tzinfo=UTC),
    )
    await _target(original, commune, page)
    return Scene(province, commune, other_commune, page, sibling_page, other_page, original)


async def _target(alert: Alert, commune: Unit, page: Page) -> None:
    await AlertTarget.create(alert=alert, unit=commune, include_subtree=False)
    await AlertTarget.create(alert=alert, page=page)


async def _follow_up(
    previous: Alert, identifier: str, kind: AlertMessageType, hour: int, headline: str, scene: Scene
) -> Alert:
    """A follow-up as the workflow makes it: its own row, the fields copied, the targets too."""
    message = await Alert.create(
        identifier=identifier,
        issuing_unit=scene.commune,
        references=previous,
        msg_type=kind,
        status=AlertStatus.CLOSED if kind == AlertMessageType.CANCEL else AlertStatus.ACTIVE,
        category=previous.category,
        headline=headline,
        description=f"{headline}.",
        subject_name=previous.subject_name,
        photo_path=previous.photo_path,
        sent_at=datetime(2026, 11, 23, hour, 0, tzinfo=UTC),
    )
    await _target(message, scene.commune, scene.page)
    return message


async def _cap(client: TestClient[Any, Any], identifier: str) -> tuple[ET.Element, bytes]:
    response = await client.get(f"/a/{identifier}/cap.xml")
    assert response.status == 200
    assert response.content_type == "application/cap+xml"
    assert response.charset == "utf-8"
    raw = await response.read()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(raw), raw


def _triple(document: ET.Element) -> str:
    return ",".join(document.findtext(f"{C}{tag}", "") for tag in ("sender", "identifier", "sent"))


async def test_cap_documents_of_an_alert_its_update_and_its_cancel(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings))
    scene = await _scene()
    i18n = I18n.load()

    original_doc, raw = await _cap(client, scene.original.identifier)
    assert original_doc.tag == f"{C}alert"
    tags = _assert_order(original_doc, ALERT_ORDER, ALERT_REQUIRED)
    assert "references" not in tags  # the original follows nothing
    assert original_doc.findtext(f"{C}identifier") == "ea-kar.2026-001"
    assert original_doc.findtext(f"{C}sender") == SENDER
    assert original_doc.findtext(f"{C}sent") == "2026-11-23T10:00:00+07:00"
    assert original_doc.findtext(f"{C}status") == "Actual"
    assert original_doc.findtext(f"{C}msgType") == "Alert"
    assert original_doc.findtext(f"{C}scope") == "Public"

    [info] = original_doc.findall(f"{C}info")
    _assert_order(info, INFO_ORDER, INFO_REQUIRED)
    assert info.findtext(f"{C}language") == "vi-VN"
    assert info.findtext(f"{C}category") == "Rescue"
    assert info.findtext(f"{C}event") == "Người mất tích"  # already in the catalog
    assert info.findtext(f"{C}urgency") == "Immediate"
    assert info.findtext(f"{C}severity") == "Severe"
    assert info.findtext(f"{C}certainty") == "Likely"
    assert info.findtext(f"{C}expires") == "2099-01-01T07:00:00+07:00"
    assert info.findtext(f"{C}senderName") == "Xã Ea Kar"
    assert info.findtext(f"{C}web") == f"{BASE}/a/ea-kar.2026-001"
    assert info.findtext(f"{C}contact") == "0262 3625 113"
    assert info.findtext(f"{C}instruction") == "Gọi ngay cho công an xã."

    # Escaped by construction: the markup arrives as text and the document still parses;
    # the control character, which XML 1.0 cannot carry, is dropped.
    assert b"<script>" not in raw and b"<b>" not in raw
    assert b"&lt;script&gt;" in raw and b"&amp; gia" in raw
    assert info.findtext(f"{C}headline") == HEADLINE.replace("\x07", "")
    description = info.findtext(f"{C}description", "")
    assert description.startswith(DESCRIPTION)
    # The structured fields follow, labelled in Vietnamese (labels read from the catalog, so
    # this holds before and after their translations are merged).
    for label, value in [
        (alertviews.NAME_LABEL, "Nguyễn Văn A"),
        (alertviews.FEATURES_LABEL, "Nam, 8 tuổi, áo đỏ"),
        (alertviews.PLACE_LABEL, "Chợ Ea Kar"),
        (alertviews.TIME_LABEL, "09:30 23/11/2026"),
    ]:
        assert f"{i18n.gettext('vi', label)}: {value}" in description
    reparsed = ET.fromstring(ET.tostring(original_doc, encoding="utf-8"))
    assert reparsed.findtext(f"{C}info/{C}headline") == HEADLINE.replace("\x07", "")

    [resource] = info.findall(f"{C}resource")  # the photo, while the alert is active
    _assert_order(resource, RESOURCE_ORDER, {"resourceDesc", "mimeType"})
    assert resource.findtext(f"{C}mimeType") == "image/jpeg"
    assert resource.findtext(f"{C}uri") == f"{BASE}/a/ea-kar.2026-001/photo"

    [area] = info.findall(f"{C}area")  # the commune, named once for its unit and its page
    _assert_order(area, AREA_ORDER, {"areaDesc"})
    assert area.findtext(f"{C}areaDesc") == "Xã Ea Kar"
    assert area.findtext(f"{C}geocode/{C}valueName") == "VN-DVHC"
    assert area.findtext(f"{C}geocode/{C}value") == "66001"

    update = await _follow_up(
        scene.original, "ea-kar.2026-002", AlertMessageType.UPDATE, 5, "Cập nhật: áo xanh", scene
    )
    cancel = await _follow_up(
        update, "ea-kar.2026-003", AlertMessageType.CANCEL, 9, "Đã tìm thấy cháu A", scene
    )
    update_doc, _raw = await _cap(client, update.identifier)
    _assert_order(update_doc, ALERT_ORDER, ALERT_REQUIRED | {"references"})
    assert update_doc.findtext(f"{C}msgType") == "Update"
    assert update_doc.findtext(f"{C}sent") == "2026-11-23T12:00:00+07:00"
    assert update_doc.findtext(f"{C}references", "").split() == [_triple(original_doc)]
    assert _triple(original_doc) == f"{SENDER},ea-kar.2026-001,2026-11-23T10:00:00+07:00"

    cancel_doc, _raw = await _cap(client, cancel.identifier)
    _assert_order(cancel_doc, ALERT_ORDER, ALERT_REQUIRED | {"references"})
    assert cancel_doc.findtext(f"{C}msgType") == "Cancel"
    assert cancel_doc.findtext(f"{C}sent", "").endswith("+07:00")
    assert cancel_doc.findtext(f"{C}references", "").split() == [
        _triple(original_doc),
        _triple(update_doc),
    ]
    for document in (update_doc, cancel_doc):
        [info] = document.findall(f"{C}info")
        _assert_order(info, INFO_ORDER, INFO_REQUIRED)
        assert info.find(f"{C}area/{C}areaDesc") is not None
    # Once the person is found, their photo is no longer offered, in any message's document.
    assert cancel_doc.find(f"{C}info/{C}resource") is None
    original_after, _raw = await _cap(client, scene.original.identifier)
    assert original_after.find(f"{C}info/{C}resource") is None


async def test_drafts_and_alerts_waiting_for_approval_are_not_public(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings))
    scene = await _scene()
    for identifier, status, sent_at in [
        ("draft-1", AlertStatus.DRAFT, None),
        ("pending-1", AlertStatus.PENDING_APPROVAL, None),
        # Inconsistent, but never public: the status alone keeps it back.
        ("pending-2", AlertStatus.PENDING_APPROVAL, datetime(2026, 11, 23, tzinfo=UTC)),
    ]:
        alert = await Alert.create(
            identifier=identifier,
            issuing_unit=scene.commune,
            status=status,
            category="fraud_warning",
            headline="Chưa gửi",
            photo_path="alerts/a1.jpg",
            sent_at=sent_at,
        )
        await _target(alert, scene.commune, scene.page)
        for suffix in ("", "/cap.xml", "/photo"):
            response = await client.get(f"/a/{identifier}{suffix}")
            assert response.status == 404, (identifier, suffix)
    for path in ("/a/no-such-alert", "/a/no-such-alert/cap.xml", "/a/bad%20id/cap.xml"):
        assert (await client.get(path)).status == 404
    html = await (await client.get(f"/p/{scene.page.slug}")).text()
    assert "Chưa gửi" not in html


async def test_the_alert_page_shows_the_chain_with_the_cancel(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings))
    scene = await _scene()
    update = await _follow_up(
        scene.original, "ea-kar.2026-002", AlertMessageType.UPDATE, 5, "Cập nhật: áo xanh", scene
    )
    await _follow_up(
        update, "ea-kar.2026-003", AlertMessageType.CANCEL, 9, "Đã tìm thấy cháu A", scene
    )

    response = await client.get(f"/a/{scene.original.identifier}?lang=en")
    assert response.status == 200
    html = await response.text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    for headline in ("Tìm cháu", "Cập nhật: áo xanh", "Đã tìm thấy cháu A"):
        assert headline in html
    assert (
        html.index("Tìm cháu") < html.index("Cập nhật: áo xanh") < html.rindex("Đã tìm thấy cháu A")
    )
    assert "Closing notice" in html and "First alert" in html and "Update" in html
    assert "Closed: found or cancelled" in html
    assert "/a/ea-kar.2026-001/cap.xml" in html
    assert "/photo" not in html  # the photo is withdrawn once the alert is closed

    client.session.cookie_jar.clear()  # forget ?lang=en: Vietnamese is the default
    vietnamese = await (await client.get(f"/a/{scene.original.identifier}")).text()
    assert '<html lang="vi">' in vietnamese and "Đã tìm thấy cháu A" in vietnamese

    view = await alertviews.public_alert(update.identifier)
    assert [m.msg_type for m in view.chain] == ["Alert", "Update", "Cancel"]
    assert view.message.identifier == "ea-kar.2026-002"
    assert view.current.identifier == "ea-kar.2026-003"
    assert view.state == alertviews.AlertState.CLOSED
    assert view.areas == [alertviews.AreaView("Xã Ea Kar", "66001")]
    assert not view.has_photo


async def test_the_page_lists_each_alert_once_with_its_state(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings))
    scene = await _scene()
    update = await _follow_up(
        scene.original, "ea-kar.2026-002", AlertMessageType.UPDATE, 5, "Cập nhật: áo xanh", scene
    )
    # A province-wide alert reaches every page below the province through its subtree.
    wide = await Alert.create(
        identifier="dak-lak.2026-007",
        issuing_unit=scene.province,
        status=AlertStatus.ACTIVE,
        category="fraud_warning",
        headline="Cảnh báo lừa đảo qua điện thoại",
        sent_at=datetime(2026, 11, 22, 1, 0, tzinfo=UTC),
    )
    await AlertTarget.create(alert=wide, unit=scene.province, include_subtree=True)

    html = await (await client.get(f"/p/{scene.page.slug}?lang=en")).text()
    assert html.count('href="/a/ea-kar.2026-002"') == 1
    assert 'href="/a/ea-kar.2026-001"' not in html  # only the newest message of the chain
    assert "Active alert" in html
    assert html.index("Cập nhật: áo xanh") < html.index("Cảnh báo lừa đảo qua điện thoại")

    await _follow_up(
        update, "ea-kar.2026-003", AlertMessageType.CANCEL, 9, "Đã tìm thấy cháu A", scene
    )
    html = await (await client.get(f"/p/{scene.page.slug}?lang=en")).text()
    section = html[html.index('id="alerts-title"') : html.index("</section>")]
    assert section.count('href="/a/') == 2  # the cancelled alert once, the province's once
    assert section.count('href="/a/ea-kar.2026-003"') == 1
    assert "Cập nhật: áo xanh" not in section and "Tìm cháu" not in section
    closed, wide_item = section.split("<li")[1:]
    assert "ea-kar.2026-003" in closed and "Closed: found or cancelled" in closed
    assert "dak-lak.2026-007" in wide_item and "Active alert" in wide_item
    assert "Alerts" in html and html.index('id="alerts-title"') < html.index("<h2>Posts</h2>")

    summaries = await alertviews.page_alerts(scene.page.id)
    assert [(s.identifier, s.state) for s in summaries] == [
        ("ea-kar.2026-003", alertviews.AlertState.CLOSED),
        ("dak-lak.2026-007", alertviews.AlertState.ACTIVE),
    ]
    assert summaries[0].first_sent_at == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    # Another commune's page sees the province's alert only; the commune's own unit target
    # was not for its subtree, so a page of the same commune still counts (same unit).
    other = await alertviews.page_alerts(scene.other_page.id)
    assert [s.identifier for s in other] == ["dak-lak.2026-007"]
    sibling = await alertviews.page_alerts(scene.sibling_page.id)
    assert [s.identifier for s in sibling] == ["ea-kar.2026-003", "dak-lak.2026-007"]
    assert await alertviews.page_alerts(scene.page.id, limit=1) == summaries[:1]


async def test_the_photo_route_serves_the_file_and_refuses_traversal(
    settings: Settings, aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(settings))
    scene = await _scene()
    photos = settings.data_dir / "alerts"
    photos.mkdir(parents=True)
    (photos / "a1.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"not yours")
    (photos / "link.jpg").symlink_to(outside)

    response = await client.get(f"/a/{scene.original.identifier}/photo")
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert await response.read() == b"\xff\xd8\xff\xe0 a jpeg"
    html = await (await client.get(f"/a/{scene.original.identifier}")).text()
    assert 'src="/a/ea-kar.2026-001/photo"' in html

    for n, stored in enumerate(
        ["../secret.jpg", "alerts/../../secret.jpg", str(outside), "alerts/link.jpg", "alerts"]
    ):
        alert = await Alert.create(
            identifier=f"escape-{n}",
            issuing_unit=scene.commune,
            status=AlertStatus.ACTIVE,
            category="missing_person",
            headline="Thử",
            photo_path=stored,
            sent_at=datetime(2026, 11, 23, tzinfo=UTC),
        )
        response = await client.get(f"/a/{alert.identifier}/photo")
        assert response.status == 404, stored
        assert b"not yours" not in await response.read()
    assert (await client.get("/a/ea-kar.2026-001/photo/../../secret.jpg")).status == 404

    no_photo = await Alert.create(
        identifier="no-photo",
        issuing_unit=scene.commune,
        status=AlertStatus.ACTIVE,
        category="fraud_warning",
        headline="Không có ảnh",
        sent_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert (await client.get(f"/a/{no_photo.identifier}/photo")).status == 404

    # Found: the photo is taken down.
    await _follow_up(
        scene.original, "ea-kar.2026-009", AlertMessageType.CANCEL, 9, "Đã tìm thấy", scene
    )
    assert (await client.get(f"/a/{scene.original.identifier}/photo")).status == 404


def test_cap_times_carry_an_offset_never_z() -> None:
    moment = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert alertviews.cap_time(moment) == "2026-11-23T10:00:00+07:00"
    assert alertviews.cap_time(moment, UTC) == "2026-11-23T03:00:00-00:00"


def test_cap_categories() -> None:
    assert alertviews.cap_category("missing_person") == "Rescue"
    assert alertviews.cap_category("crime_warning") == "Security"
    assert alertviews.cap_category("fraud_warning") == "Security"
    assert alertviews.cap_category("health") == "Health"
    for other in ("procedure", "rumour_check", "legal", "announcement"):
        assert alertviews.cap_category(other) == "Other"
