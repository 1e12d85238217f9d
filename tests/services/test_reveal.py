"""Revealing who sent an anonymous tip: a stated reason, a second approver above the tip's unit
who is not the requester, one decision, the identity to the requester alone — and an audit
trail of each step that never holds the identity."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from tortoise.context import TortoiseContext

from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    RevealRequest,
    Role,
    Staff,
    Tip,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.services import follows, vault
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.reveal import decide_reveal, request_reveal, revealed_identity
from communepol.services.tips import TipInput, Tips
from tests import pagekit
from tests.services.test_tips import Clock, cards, clock, linked

__all__ = ["clock"]  # the fixture, imported for the tests below

KEYRING = pagekit.KEYRING
DESK = Tips(KEYRING)
REASON = "Người báo tin là nhân chứng duy nhất của vụ cướp, cần lấy lời khai"
SENDER = "Hoàng Thị Lan"
PLATFORM_ID = "tg-55501234"


@dataclass
class Case:
    """An anonymous tip of Ea Kar (Đắk Lắk) sent on the province's Telegram bot by a resident
    named Hoàng Thị Lan; two officers of Ea Kar, two province supervisors, and a supervisor of
    Tây Ninh."""

    tip: Tip
    bot: ChannelAccount
    resident: Contact
    officer: Staff
    colleague: Staff
    supervisor: Staff
    second_supervisor: Staff
    stranger: Staff
    chats: dict[int, Contact]


@pytest.fixture
async def case(db: TortoiseContext, clock: Clock) -> Case:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=province, code="24340")
    tay_ninh = await pagekit.unit("Tỉnh Tây Ninh", UnitLevel.PROVINCE, code="72")
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an Đắk Lắk")
    people = [
        await Staff.create(full_name=name, role=role, unit=unit, locale="en")
        for name, role, unit in (
            ("Nguyễn Văn An", Role.OFFICER, ea_kar),
            ("Trần Văn Bình", Role.OFFICER, ea_kar),
            ("Lê Văn Cường", Role.SUPERVISOR, province),
            ("Phạm Thị Dung", Role.ADMIN, province),
            ("Đỗ Thị Nga", Role.SUPERVISOR, tay_ninh),
        )
    ]
    chats = {person.id: await linked(person, bot, f"staff-{person.id}") for person in people}
    resident, _ = await find_or_create_contact(
        KEYRING, bot, ContactIdentity(PLATFORM_ID, SENDER), locale="en"
    )
    sent = await DESK.submit(resident, TipInput("theft", "Tôi thấy kẻ cướp tiệm vàng", ea_kar.id))
    officer, colleague, supervisor, second, stranger = people
    return Case(sent.tip, bot, resident, officer, colleague, supervisor, second, stranger, chats)


async def notices(chat: Contact) -> list[Delivery]:
    """The notices planned to a staff member's chat that are not a tip's card."""
    return [row for row in await cards(chat) if row.tip_id is None]  # type: ignore[attr-defined]


async def audit_rows() -> list[AuditEvent]:
    return list(await AuditEvent.filter(action__startswith="tip.").order_by("id"))


def assert_no_identity(rows: list[AuditEvent]) -> None:
    for row in rows:
        stored = json.dumps([row.actor_label, row.object_id, row.data], ensure_ascii=False)
        assert SENDER not in stored and PLATFORM_ID not in stored, stored


async def test_an_approved_request_reveals_the_sender_to_the_requester_alone(case: Case) -> None:
    request = await request_reveal(case.officer, f"t-{case.tip.reference.lower()}", REASON)
    # Both approvers above the commune are asked; the requester's colleague is not.
    for approver in (case.supervisor, case.second_supervisor):
        [notice] = await notices(case.chats[approver.id])
        assert f"T-{case.tip.reference}" in notice.payload["text"]
        assert f"#{request.id}" in notice.payload["text"]
    assert await notices(case.chats[case.colleague.id]) == []

    decided = await decide_reveal(KEYRING, case.supervisor, request.id, True)
    assert decided.approved is True and decided.decided_at is not None
    stored = await RevealRequest.get(id=request.id)
    assert (stored.approved, stored.approved_by_id) == (True, case.supervisor.id)  # type: ignore[attr-defined]
    [told] = await notices(case.chats[case.officer.id])
    assert told.payload["text"].startswith(f"Your request #{request.id}")

    expected = f"{SENDER} (Telegram) — Bot Công an Đắk Lắk"
    assert await revealed_identity(KEYRING, case.officer, request.id) == expected
    assert await revealed_identity(KEYRING, case.officer, request.id) == expected
    for other in (case.supervisor, case.second_supervisor, case.colleague, case.stranger):
        with pytest.raises(NotFound):
            await revealed_identity(KEYRING, other, request.id)

    rows = await audit_rows()
    assert [(row.action, row.actor_staff_id) for row in rows] == [
        ("tip.created", None),
        ("tip.reveal_requested", case.officer.id),
        ("tip.reveal_approved", case.supervisor.id),
        ("tip.identity_read", case.officer.id),
        ("tip.identity_read", case.officer.id),
    ]
    assert rows[1].data["reason"] == REASON
    assert all(row.object_id == str(case.tip.id) for row in rows)
    assert_no_identity(rows)
    # The tip itself still names nobody.
    assert (await Tip.get(id=case.tip.id)).contact_id is None  # type: ignore[attr-defined]


async def test_a_requester_cannot_approve_their_own_request(case: Case) -> None:
    request = await request_reveal(case.supervisor, case.tip.reference, REASON)
    with pytest.raises(PermissionDenied):
        await decide_reveal(KEYRING, case.supervisor, request.id, True)
    assert (await RevealRequest.get(id=request.id)).decided_at is None
    # The other approver is asked, not the requester.
    assert await notices(case.chats[case.supervisor.id]) == []
    assert len(await notices(case.chats[case.second_supervisor.id])) == 1
    await decide_reveal(KEYRING, case.second_supervisor, request.id, True)
    assert await revealed_identity(KEYRING, case.supervisor, request.id) == (
        f"{SENDER} (Telegram) — Bot Công an Đắk Lắk"
    )


async def test_an_officer_cannot_approve(case: Case) -> None:
    request = await request_reveal(case.officer, case.tip.reference, REASON)
    with pytest.raises(PermissionDenied):
        await decide_reveal(KEYRING, case.colleague, request.id, True)
    assert (await RevealRequest.get(id=request.id)).decided_at is None


async def test_a_supervisor_of_another_province_does_not_see_the_request(case: Case) -> None:
    request = await request_reveal(case.officer, case.tip.reference, REASON)
    with pytest.raises(NotFound):
        await decide_reveal(KEYRING, case.stranger, request.id, True)
    with pytest.raises(NotFound):
        await request_reveal(case.stranger, case.tip.reference, REASON)
    assert await notices(case.chats[case.stranger.id]) == []
    with pytest.raises(NotFound):
        await decide_reveal(KEYRING, case.supervisor, request.id + 1000, True)


@pytest.mark.parametrize("reason", ["", "cần biết", "x" * 19, "   " + "y" * 18 + "   "])
async def test_a_reason_under_twenty_characters_is_refused(case: Case, reason: str) -> None:
    with pytest.raises(ValidationError):
        await request_reveal(case.officer, case.tip.reference, reason)
    assert await RevealRequest.all().count() == 0
    assert [row.action for row in await audit_rows()] == ["tip.created"]


async def test_a_named_tip_has_nothing_to_reveal(case: Case) -> None:
    named = await DESK.submit(
        case.resident,
        TipInput("theft", "Mất xe", case.tip.unit_id, anonymous=False),  # type: ignore[attr-defined]
    )
    with pytest.raises(ValidationError):
        await request_reveal(case.officer, named.reference, REASON)


async def test_a_refused_or_waiting_request_reveals_nothing(case: Case) -> None:
    request = await request_reveal(case.officer, case.tip.reference, REASON)
    with pytest.raises(PermissionDenied):
        await revealed_identity(KEYRING, case.officer, request.id)
    with pytest.raises(Conflict):
        await request_reveal(case.officer, case.tip.reference, REASON)

    await decide_reveal(KEYRING, case.supervisor, request.id, False)
    with pytest.raises(PermissionDenied):
        await revealed_identity(KEYRING, case.officer, request.id)
    # Decided once: the other approver cannot turn it round.
    with pytest.raises(Conflict):
        await decide_reveal(KEYRING, case.second_supervisor, request.id, True)
    stored = await RevealRequest.get(id=request.id)
    assert stored.approved is False and stored.approved_by_id == case.supervisor.id  # type: ignore[attr-defined]
    [told] = await notices(case.chats[case.officer.id])
    assert told.payload["text"].endswith("was refused.")

    rows = await audit_rows()
    assert [row.action for row in rows] == [
        "tip.created",
        "tip.reveal_requested",
        "tip.reveal_refused",
    ]
    assert_no_identity(rows)


async def test_a_sender_who_erased_themselves_cannot_be_revealed(case: Case) -> None:
    request = await request_reveal(case.officer, case.tip.reference, REASON)
    await follows.erase_contact(case.resident)
    await vault.forget_tipster(KEYRING, case.resident)
    with pytest.raises(Conflict):
        await decide_reveal(KEYRING, case.supervisor, request.id, True)
    # Refusing is still recorded.
    await decide_reveal(KEYRING, case.supervisor, request.id, False)
    assert (await RevealRequest.get(id=request.id)).approved is False
