"""Alerts: the two-person rule across communes, one delivery per person however many of the
alert's pages they follow, and updates and cancels that reach exactly the alert's recipients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.db.models import (
    Alert,
    AlertMessageType,
    AlertStatus,
    ChannelAccount,
    CommunityGroup,
    Contact,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Page,
    Post,
    Role,
    Staff,
    StaffIdentity,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, PermissionDenied
from communepol.i18n import I18n
from communepol.services import alerts, follows, outbox
from communepol.services.alerts import AlertInput, Alerts
from communepol.settings import Settings
from tests import pagekit

I18N = I18n.load()


class World:
    """A district with two communes, a page each on one shared Telegram-like account, and a
    page of a third commune in another district."""

    district: Unit
    account: ChannelAccount
    people: dict[str, Contact]
    officer: Staff
    district_officer: Staff
    supervisor: Staff


async def _world() -> World:
    w = World()
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    w.district = await pagekit.unit("Huyện Ea Kar", UnitLevel.DISTRICT, province)
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=w.district, code="24340")
    ea_pal = await pagekit.unit("Xã Ea Păl", parent=w.district)
    other_district = await pagekit.unit("Huyện Krông Pắc", UnitLevel.DISTRICT, province)
    far = await pagekit.unit("Xã Ea Kly", parent=other_district)
    w.account = await pagekit.account()
    page_a = await pagekit.page(ea_kar, "ea-kar", w.account)
    page_b = await pagekit.page(ea_pal, "ea-pal", w.account)
    page_far = await pagekit.page(far, "ea-kly", w.account)
    w.people = {
        "a": await pagekit.contact(w.account, "a"),
        "b": await pagekit.contact(w.account, "b", "en"),
        "both": await pagekit.contact(w.account, "both"),
        "far": await pagekit.contact(w.account, "far"),
        "pending": await pagekit.contact(w.account, "pending"),
    }
    for who, page in (("a", page_a), ("b", page_b), ("both", page_a), ("both", page_b)):
        await Follow.create(page=page, contact=w.people[who], status=FollowStatus.ACTIVE)
    await Follow.create(page=page_far, contact=w.people["far"], status=FollowStatus.ACTIVE)
    await Follow.create(
        page=page_a, contact=w.people["pending"], status=FollowStatus.PENDING_CONSENT
    )
    await CommunityGroup.create(
        unit=ea_kar,
        channel_account=w.account,
        chat_hash="g1",
        chat_sealed="x",
        title="Tổ an ninh thôn 1",
        categories=["missing_person"],
    )
    w.officer = await pagekit.staff(ea_kar)
    w.district_officer = await pagekit.staff(w.district, name="Trần Thị Bình")
    w.supervisor = await pagekit.staff(w.district, Role.SUPERVISOR, name="Lê Văn Cường")
    return w


def _missing_child(w: World) -> AlertInput:
    return AlertInput(
        category="missing_person",
        headline="Tìm trẻ mất tích: cháu Y Nhi, 7 tuổi",
        description="Cháu mặc áo đỏ, quần xanh.",
        subject_name="Y Nhi",
        last_seen_place="Chợ Ea Kar",
        contact_phone="0912 345 678",
        units=(w.district.id,),
    )


async def _recipients(alert: Alert) -> set[tuple[int | None, int | None]]:
    rows = await Delivery.filter(publication__post__alert_id=alert.id).values_list(
        "contact_id", "group_id"
    )
    return {(contact, group) for contact, group in rows}


async def test_an_alert_across_communes_needs_a_second_person(
    db: TortoiseContext, settings: Settings
) -> None:
    w = await _world()
    service = Alerts(settings, I18N)
    bot = await pagekit.contact(w.account, "supervisor-bot")
    await StaffIdentity.create(
        staff=w.supervisor,
        channel_account=w.account,
        identity_hash=bot.identity_hash,
        identity_sealed=bot.identity_sealed,
    )
    alert = await alerts.create_alert(w.district_officer, _missing_child(w))
    sent = await service.send(w.district_officer, alert.id)
    assert sent.status is AlertStatus.PENDING_APPROVAL
    # Nothing goes out before the second person, who is told in their bot.
    [asked] = await Delivery.all()
    assert (asked.kind, asked.contact_id) == (DeliveryKind.NOTIFICATION, bot.id)  # type: ignore[attr-defined]
    assert f"#{alert.id}" in asked.payload["text"]

    with pytest.raises(PermissionDenied):
        await service.approve(w.district_officer, alert.id)  # not the issuer themselves
    with pytest.raises(NotFound):
        await service.approve(w.officer, alert.id)  # a commune officer cannot see both communes
    approved = await service.approve(w.supervisor, alert.id)
    assert approved.status is AlertStatus.ACTIVE and approved.sent_at is not None

    p = w.people
    # Each follower of either page once (the one following both pages too), the commune's
    # missing-person group, and nobody outside the district or without consent.
    assert await _recipients(approved) == {
        (p["a"].id, None),
        (p["b"].id, None),
        (p["both"].id, None),
        (None, (await CommunityGroup.get(title="Tổ an ninh thôn 1")).id),
    }
    assert await Post.filter(alert_id=alert.id).count() == 2  # shown on both public pages
    rows = await Delivery.filter(contact_id=p["b"].id)
    assert [row.kind for row in rows] == [DeliveryKind.ALERT]
    [claimed] = [
        c
        for c in await outbox.claim(w.account.id, owner="t", limit=10, lease=timedelta(seconds=30))
        if c.contact_id == p["b"].id
    ]
    assert "MISSING PERSON" in claimed.payload["text"].upper()  # in English for the English reader
    assert "Y Nhi" in claimed.payload["text"]


async def test_an_alert_in_one_commune_goes_out_when_sent(
    db: TortoiseContext, settings: Settings
) -> None:
    w = await _world()
    page = await Page.get(slug="ea-kar")
    data = AlertInput(
        category="fraud_warning", headline="Cảnh báo giả danh công an gọi điện", pages=(page.id,)
    )
    alert = await alerts.create_alert(w.officer, data)
    sent = await Alerts(settings, I18N).send(w.officer, alert.id)
    assert sent.status is AlertStatus.ACTIVE
    p = w.people
    assert await _recipients(sent) == {(p["a"].id, None), (p["both"].id, None)}


async def test_update_and_cancel_reach_exactly_the_alerts_recipients(
    db: TortoiseContext, settings: Settings
) -> None:
    w = await _world()
    service = Alerts(settings, I18N)
    alert = await alerts.create_alert(w.district_officer, _missing_child(w))
    await service.send(w.district_officer, alert.id)
    original = await service.approve(w.supervisor, alert.id)
    reached = await _recipients(original)

    # After the alert: someone new follows a page of it; "b" stops following.
    latecomer = await pagekit.contact(w.account, "late")
    page_a = await Page.get(slug="ea-kar")
    await Follow.create(page=page_a, contact=latecomer, status=FollowStatus.ACTIVE)
    await follows.unfollow(w.people["b"])

    update = await service.update(
        w.district_officer,
        original.id,
        AlertInput(
            category="missing_person",
            headline="Cập nhật: cháu Y Nhi được thấy ở xã Ea Păl",
            last_seen_place="Trường tiểu học Ea Păl",
        ),
    )
    assert update.msg_type is AlertMessageType.UPDATE
    assert update.references_id == original.id  # type: ignore[attr-defined]
    without_b = reached - {(w.people["b"].id, None)}
    assert await _recipients(update) == without_b

    cancel = await service.cancel(w.supervisor, original.id, "Đã tìm thấy cháu. Cảm ơn bà con.")
    assert cancel.msg_type is AlertMessageType.CANCEL
    assert cancel.references_id == update.id  # type: ignore[attr-defined]
    assert await _recipients(cancel) == without_b
    statuses = {a.id: a.status for a in await Alert.all()}
    assert statuses == {
        original.id: AlertStatus.CLOSED,
        update.id: AlertStatus.CLOSED,
        cancel.id: AlertStatus.CLOSED,
    }
    # What was still queued of the alert and its update is withdrawn; the cancel is queued.
    waiting = Delivery.filter(status=DeliveryStatus.PENDING)
    assert await waiting.filter(publication__post__alert_id=original.id).count() == 0
    assert await waiting.filter(publication__post__alert_id=cancel.id).count() == len(without_b)
    with pytest.raises(Conflict, match="not active"):
        await service.update(w.district_officer, original.id, _missing_child(w))
    with pytest.raises(NotFound):  # a commune officer cannot end a district's alert
        await service.cancel(w.officer, original.id, "found")


async def test_the_cap_documents_of_a_sent_alert_its_update_and_its_cancel(
    db: TortoiseContext, settings: Settings
) -> None:
    """The chain as the service writes it, read back as CAP 1.2: msgType, references, order."""
    from xml.etree import ElementTree as ET

    from communepol.services import alertviews
    from tests.web.test_alerts_public import (
        ALERT_ORDER,
        ALERT_REQUIRED,
        INFO_ORDER,
        INFO_REQUIRED,
        _assert_order,
    )

    w = await _world()
    service = Alerts(settings, I18N)
    alert = await alerts.create_alert(w.district_officer, _missing_child(w))
    await service.send(w.district_officer, alert.id)
    original = await service.approve(w.supervisor, alert.id)
    update = await service.update(
        w.district_officer,
        original.id,
        AlertInput(category="missing_person", headline="Cháu được thấy ở Ea Păl"),
    )
    cancel = await service.cancel(w.supervisor, original.id, "Đã tìm thấy cháu.")

    sender = "communepol@127.0.0.1"
    cap = "{urn:oasis:names:tc:emergency:cap:1.2}"
    documents = []
    for message in (original, update, cancel):
        raw_xml = await alertviews.cap_document(
            message.identifier, sender=sender, base_url=settings.public_base_url, i18n=I18N
        )
        documents.append(ET.fromstring(raw_xml))
    triples = []
    for document, kind in zip(documents, ("Alert", "Update", "Cancel"), strict=True):
        required = ALERT_REQUIRED | ({"references"} if kind != "Alert" else set())
        _assert_order(document, ALERT_ORDER, required)
        assert document.findtext(f"{cap}msgType") == kind
        info = document.find(f"{cap}info")
        assert info is not None
        _assert_order(info, INFO_ORDER, INFO_REQUIRED)
        areas = {a.findtext(f"{cap}areaDesc") for a in info.findall(f"{cap}area")}
        assert areas == {"Huyện Ea Kar"}  # the district the alert was addressed to
        identifier = document.findtext(f"{cap}identifier")
        sent = document.findtext(f"{cap}sent") or ""
        assert sent.endswith("+07:00")
        triples.append(f"{document.findtext(f'{cap}sender')},{identifier},{sent}")
    assert documents[1].findtext(f"{cap}references") == triples[0]
    assert documents[2].findtext(f"{cap}references") == f"{triples[0]} {triples[1]}"
