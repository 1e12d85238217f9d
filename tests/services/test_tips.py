"""The tip desk at the service level: what intake stores, who is told, the deadlines a tip
gets, the officer's actions and their trail, replies relayed through the vault, and what a
resident can reach of their own tips — with a controlled clock.

The clock and the builders here (`Clock`, `clock`, `Desk`, `desk`, `linked`, `cards`) are
shared by the other tip tests, the way `tests.test_cli` shares its fixture."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import tortoise.timezone
from tortoise.context import TortoiseContext

from communepol.db.models import (
    AliasVaultEntry,
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    DeliveryKind,
    Role,
    RoutingRule,
    SlaPolicy,
    Staff,
    StaffIdentity,
    Tip,
    TipCategory,
    TipEvent,
    TipMessage,
    TipMessageDirection,
    TipRoute,
    TipStatus,
    Unit,
    UnitLevel,
    Urgency,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.services import duty, follows, rumours, sla, tips, vault
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.tips import TipInput, Tips
from tests import pagekit

DESK = Tips(pagekit.KEYRING)
# Mid-morning in Vietnam, so nothing depends on the real time of the run.
START = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


class Clock:
    """The time every tip service and every stored ``created_at`` sees, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    frozen = Clock(START)
    for module in (tips, sla, rumours, duty):
        monkeypatch.setattr(module, "utcnow", frozen)
    # ``auto_now_add`` columns (a tip's created_at, which response times start from).
    monkeypatch.setattr(tortoise.timezone, "now", frozen)
    yield frozen


async def linked(staff: Staff, bot: ChannelAccount, user: str) -> Contact:
    """``staff``'s own chat with ``bot``, linked as their bot identity (what /link does)."""
    chat = await pagekit.contact(bot, user, staff.locale)
    await StaffIdentity.create(
        staff=staff,
        channel_account=bot,
        identity_hash=chat.identity_hash,
        identity_sealed=chat.identity_sealed,
    )
    return chat


async def cards(chat: Contact, tip: Tip | None = None) -> list[Delivery]:
    """The notifications planned to a staff member's chat (about ``tip``, when given)."""
    query = Delivery.filter(contact_id=chat.id, kind=DeliveryKind.NOTIFICATION)
    if tip is not None:
        query = query.filter(tip_id=tip.id)
    return list(await query.order_by("id"))


async def replies(resident: Contact, tip: Tip | None = None) -> list[Delivery]:
    """What was planned to a resident as replies (about ``tip``, when given)."""
    query = Delivery.filter(contact_id=resident.id, kind=DeliveryKind.REPLY)
    if tip is not None:
        query = query.filter(tip_id=tip.id)
    return list(await query.order_by("id"))


def actions(delivery: Delivery) -> set[str]:
    return {button["action"] for row in delivery.payload.get("buttons", []) for button in row}


@dataclass
class Desk:
    """Đắk Lắk with its cyber desk, the commune Ea Kar (two officers) and Ea Păl (one), a
    province supervisor, all linked to the province's Telegram bot in English."""

    province: Unit
    cyber: Unit
    ea_kar: Unit
    ea_pal: Unit
    bot: ChannelAccount
    officer: Staff
    colleague: Staff
    pal_officer: Staff
    supervisor: Staff
    chats: dict[int, Contact]

    def chat(self, staff: Staff) -> Contact:
        return self.chats[staff.id]

    async def resident(self, user: str, name: str | None = None) -> Contact:
        found, _ = await find_or_create_contact(
            pagekit.KEYRING,
            self.bot,
            ContactIdentity(platform_user_id=user, display_name=name),
            locale="en",
        )
        return found


async def build_desk() -> Desk:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    cyber = await pagekit.unit("Phòng An ninh mạng", UnitLevel.DISTRICT, parent=province)
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=province, code="24340")
    ea_pal = await pagekit.unit("Xã Ea Păl", parent=province, code="24341")
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an Đắk Lắk")
    people = [
        await Staff.create(full_name=name, role=role, unit=unit, locale="en")
        for name, role, unit in (
            ("Nguyễn Văn An", Role.OFFICER, ea_kar),
            ("Trần Văn Bình", Role.OFFICER, ea_kar),
            ("Y Bih Niê", Role.OFFICER, ea_pal),
            ("Lê Văn Cường", Role.SUPERVISOR, province),
        )
    ]
    chats = {person.id: await linked(person, bot, f"staff-{person.id}") for person in people}
    officer, colleague, pal_officer, supervisor = people
    return Desk(
        province, cyber, ea_kar, ea_pal, bot, officer, colleague, pal_officer, supervisor, chats
    )


@pytest.fixture
async def desk(db: TortoiseContext, clock: Clock) -> Desk:
    return await build_desk()


def tip_input(
    unit: Unit,
    category: str = "theft",
    text: str = "Mất xe máy ở chợ",
    *,
    anonymous: bool = True,
    details: dict[str, str] | None = None,
) -> TipInput:
    return TipInput(category, text, unit.id, anonymous=anonymous, details=details or {})


# --- intake ----------------------------------------------------------------------------------


async def test_intake_stores_the_tip_its_thread_vault_entry_event_and_audit(
    desk: Desk, clock: Clock
) -> None:
    resident = await desk.resident("res-1", "Hoàng Thị Lan")
    sent = await DESK.submit(resident, tip_input(desk.ea_kar, text="Có người  lạ trộm bò"))

    tip = await Tip.get(id=sent.tip.id)
    assert sent.reference == f"T-{tip.reference}"
    assert (tip.status, tip.category, tip.unit_id) == (  # type: ignore[attr-defined]
        TipStatus.NEW,
        TipCategory.THEFT,
        desk.ea_kar.id,
    )
    assert tip.created_at == clock.now
    # Anonymous by default: no contact on the row, only an alias.
    assert tip.anonymous and tip.contact_id is None  # type: ignore[attr-defined]
    assert re.fullmatch(r"Người báo tin #[0-9A-F]{4}", tip.alias or "")
    [message] = await TipMessage.filter(tip_id=tip.id)
    assert message.direction is TipMessageDirection.FROM_RESIDENT
    assert message.text == "Có người  lạ trộm bò"
    # The one link to the sender is sealed in the vault.
    assert await AliasVaultEntry.filter(tip_id=tip.id).count() == 1
    assert (await vault.tipster_of(pagekit.KEYRING, tip.id)) == resident
    assert await tips.sender_label(pagekit.KEYRING, tip) == tip.alias
    [created] = await TipEvent.filter(tip_id=tip.id)
    assert created.kind == "created" and created.data["status"] == "new"
    [record] = await AuditEvent.filter(action="tip.created")
    assert (record.object_id, record.unit_id, record.actor_label) == (
        str(tip.id),
        desk.ea_kar.id,
        "resident",
    )
    assert record.data == {"category": "theft", "anonymous": True}
    assert [t.id for t in await DESK.mine(resident)] == [tip.id]


async def test_a_named_tip_keeps_its_contact_and_shows_the_agreed_name(desk: Desk) -> None:
    resident = await desk.resident("res-1", "Hoàng Thị Lan")
    sent = await DESK.submit(resident, tip_input(desk.ea_kar, anonymous=False))
    tip = await Tip.get(id=sent.tip.id)
    assert not tip.anonymous and tip.contact_id == resident.id  # type: ignore[attr-defined]
    assert await tips.sender_label(pagekit.KEYRING, tip) == "Hoàng Thị Lan"
    [card] = await cards(desk.chat(desk.officer), tip)
    assert "from Hoàng Thị Lan" in card.payload["text"]


async def test_references_are_unique_and_accepted_as_typed(desk: Desk) -> None:
    residents = [await desk.resident(f"res-{i}") for i in range(3)]  # within the flood limit
    sent = [await DESK.submit(residents[i % 3], tip_input(desk.ea_kar)) for i in range(25)]
    resident = residents[0]
    references = [item.tip.reference for item in sent]
    assert len(set(references)) == 25
    assert all(re.fullmatch(r"[ACDEFHJKLMNPRTUVWXY3479]{6}", ref) for ref in references)

    tip = sent[0].tip
    for typed in (
        f"T-{tip.reference}",
        f"t-{tip.reference.lower()}",
        tip.reference.lower(),
        f"#T{tip.reference}",
        f" t - {tip.reference} ",
    ):
        assert (await DESK.own_tip(resident, typed)).id == tip.id, typed
        assert (await tips.access_tip(desk.officer, typed)).id == tip.id, typed

    # A reference made only of digits is a reference first; a row id still works otherwise.
    digits = sent[1].tip
    await Tip.filter(id=digits.id).update(reference="347934")
    assert (await tips.access_tip(desk.officer, "347934")).id == digits.id
    assert (await tips.access_tip(desk.officer, "T-347934")).id == digits.id
    assert (await tips.access_tip(desk.officer, str(tip.id))).id == tip.id
    assert (await tips.access_tip(desk.officer, tip.id)).id == tip.id


async def test_one_person_cannot_flood_the_desk(desk: Desk, clock: Clock) -> None:
    resident, other = await desk.resident("res-1"), await desk.resident("res-2")
    for _ in range(tips.FLOOD_LIMIT):
        await DESK.submit(resident, tip_input(desk.ea_kar))
    with pytest.raises(ValidationError) as refused:
        await DESK.submit(resident, tip_input(desk.ea_kar))
    assert refused.value.field == "flood"
    assert await Tip.all().count() == tips.FLOOD_LIMIT  # nothing half-stored
    await DESK.submit(other, tip_input(desk.ea_kar))  # everyone else is heard meanwhile
    clock.advance(hours=1)
    await DESK.submit(resident, tip_input(desk.ea_kar))  # and the hour passes
    assert await Tip.all().count() == tips.FLOOD_LIMIT + 2


# --- who is told ---------------------------------------------------------------------------------


async def test_a_routing_rule_sends_fraud_to_the_cyber_desk_and_its_officer_on_duty(
    desk: Desk,
) -> None:
    await RoutingRule.create(
        scope_unit=desk.province, category=TipCategory.FRAUD, target_unit=desk.cyber
    )
    analyst = await Staff.create(full_name="Đinh Thị Hoa", role=Role.OFFICER, unit=desk.cyber)
    resting = await Staff.create(full_name="Vũ Văn Hải", role=Role.OFFICER, unit=desk.cyber)
    analyst_chat = await linked(analyst, desk.bot, "analyst")
    resting_chat = await linked(resting, desk.bot, "resting")
    await duty.duty_on(analyst)
    await duty.duty_on(desk.officer)
    resident = await desk.resident("res-1")

    sent = await DESK.submit(
        resident,
        tip_input(desk.ea_kar, "fraud", "Bị lừa chuyển tiền", details={"bank": "VCB"}),
    )

    assert [r.unit_id for r in await TipRoute.filter(tip_id=sent.tip.id)] == [desk.cyber.id]  # type: ignore[attr-defined]
    assert sent.notified == 2
    assert len(await cards(analyst_chat, sent.tip)) == 1
    assert len(await cards(desk.chat(desk.officer), sent.tip)) == 1
    assert await cards(resting_chat) == []
    assert await cards(desk.chat(desk.colleague)) == []
    # The cyber desk may act on it though the tip is Ea Kar's; a theft is not routed there.
    assert (await tips.access_tip(analyst, sent.reference)).id == sent.tip.id
    theft = await DESK.submit(resident, tip_input(desk.ea_kar, "theft"))
    assert await TipRoute.filter(tip_id=theft.tip.id).count() == 0
    with pytest.raises(NotFound):
        await tips.access_tip(analyst, theft.reference)


async def test_only_the_officer_on_duty_is_told(desk: Desk) -> None:
    await duty.duty_on(desk.colleague)
    sent = await DESK.submit(await desk.resident("res-1"), tip_input(desk.ea_kar))
    assert sent.notified == 1
    assert len(await cards(desk.chat(desk.colleague), sent.tip)) == 1
    assert await cards(desk.chat(desk.officer)) == []
    assert await cards(desk.chat(desk.supervisor)) == []


async def test_with_nobody_on_duty_every_staff_member_of_the_unit_is_told(desk: Desk) -> None:
    sent = await DESK.submit(await desk.resident("res-1"), tip_input(desk.ea_kar))
    assert sent.notified == 2
    for officer in (desk.officer, desk.colleague):
        [card] = await cards(desk.chat(officer), sent.tip)
        assert {f"tk:{sent.tip.id}:ack", f"tk:{sent.tip.id}:take"} <= actions(card)
    assert await cards(desk.chat(desk.pal_officer)) == []
    assert await cards(desk.chat(desk.supervisor)) == []


async def test_a_unit_with_nobody_makes_the_tip_due_now_and_the_next_tick_escalates_it(
    desk: Desk, clock: Clock
) -> None:
    empty = await pagekit.unit("Xã Cư Huê", parent=desk.province)
    sent = await DESK.submit(await desk.resident("res-1"), tip_input(empty, "theft"))
    assert sent.notified == 0
    tip = await Tip.get(id=sent.tip.id)
    assert tip.first_response_due_at == clock.now

    assert await sla.escalate_due(pagekit.KEYRING, clock.advance(seconds=30)) == 1
    [card] = await cards(desk.chat(desk.supervisor), tip)
    assert f"T-{tip.reference}" in card.payload["text"]


# --- urgency and deadlines -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "urgency"),
    [
        ("fight_weapons", Urgency.CRITICAL),
        ("missing_person", Urgency.CRITICAL),
        ("fraud", Urgency.CRITICAL),
        ("theft", Urgency.HIGH),
        ("gambling", Urgency.NORMAL),
        ("procedure_question", Urgency.LOW),
    ],
)
async def test_urgency_and_default_deadlines_follow_the_category(
    desk: Desk, clock: Clock, category: str, urgency: Urgency
) -> None:
    sent = await DESK.submit(await desk.resident("res-1"), tip_input(desk.ea_kar, category))
    tip = await Tip.get(id=sent.tip.id)
    assert tip.urgency is urgency
    assert tip.first_response_due_at == clock.now + sla.DEFAULTS[urgency].first_response
    assert tip.resolution_due_at == clock.now + sla.DEFAULTS[urgency].resolution


async def test_a_policy_up_the_tree_overrides_the_defaults_and_the_nearest_wins(
    desk: Desk, clock: Clock
) -> None:
    await SlaPolicy.create(
        unit=desk.province,
        urgency=Urgency.CRITICAL,
        first_response_minutes=5,
        resolution_minutes=120,
        escalation_repeat_minutes=5,
    )
    await sla.set_policy(desk.ea_pal, Urgency.CRITICAL, 3, 60, 3)
    resident = await desk.resident("res-1")

    kar = await Tip.get(id=(await DESK.submit(resident, tip_input(desk.ea_kar, "fraud"))).tip.id)
    pal = await Tip.get(id=(await DESK.submit(resident, tip_input(desk.ea_pal, "fraud"))).tip.id)
    high = await Tip.get(id=(await DESK.submit(resident, tip_input(desk.ea_kar, "theft"))).tip.id)

    assert (kar.first_response_due_at, kar.resolution_due_at) == (
        clock.now + timedelta(minutes=5),
        clock.now + timedelta(minutes=120),
    )
    assert (pal.first_response_due_at, pal.resolution_due_at) == (
        clock.now + timedelta(minutes=3),
        clock.now + timedelta(minutes=60),
    )
    # The province's policy is for critical tips only: a theft keeps the defaults.
    assert high.first_response_due_at == clock.now + sla.DEFAULTS[Urgency.HIGH].first_response


# --- the officer's actions -----------------------------------------------------------------------


async def _status_events(tip: Tip) -> list[tuple[str, str, int | None]]:
    rows = await TipEvent.filter(tip_id=tip.id, kind="status").order_by("id")
    return [(row.data["from"], row.data["to"], row.actor_id) for row in rows]  # type: ignore[attr-defined]


async def test_a_tip_goes_from_new_to_resolved_with_its_events_and_audit(
    desk: Desk, clock: Clock
) -> None:
    resident = await desk.resident("res-1")
    sent = await DESK.submit(resident, tip_input(desk.ea_kar))
    ref = sent.reference

    clock.advance(minutes=4)
    tip = await DESK.acknowledge(desk.officer, ref)
    assert tip.status is TipStatus.ACKNOWLEDGED and tip.first_response_at == clock.now
    with pytest.raises(Conflict):
        await DESK.acknowledge(desk.colleague, ref)
    clock.advance(minutes=1)
    tip = await DESK.take(desk.colleague, ref)
    assert tip.status is TipStatus.IN_PROGRESS and tip.assignee_id == desk.colleague.id  # type: ignore[attr-defined]
    tip = await DESK.resolve(desk.colleague, ref, "Đã tìm lại xe, trả cho chủ")

    stored = await Tip.get(id=sent.tip.id)
    assert stored.status is TipStatus.RESOLVED
    assert stored.outcome == "Đã tìm lại xe, trả cho chủ" and stored.resolved_at == clock.now
    # The first response is the acknowledgement, not the later actions.
    assert stored.first_response_at == START + timedelta(minutes=4)
    assert await _status_events(stored) == [
        ("new", "acknowledged", desk.officer.id),
        ("acknowledged", "in_progress", desk.colleague.id),
        ("in_progress", "resolved", desk.colleague.id),
    ]
    trail = await AuditEvent.filter(object_type="tip", object_id=str(stored.id)).order_by("id")
    assert [(row.action, row.actor_staff_id) for row in trail] == [
        ("tip.created", None),
        ("tip.acknowledged", desk.officer.id),
        ("tip.taken", desk.colleague.id),
        ("tip.resolved", desk.colleague.id),
    ]
    # The resident was told each change, in English, naming the tip.
    told = [row.payload["text"] for row in await replies(resident, stored)]
    assert len(told) == 3 and all(ref in text for text in told)
    assert told[0] == f"Your tip {ref} was received by an officer."
    assert "Đã tìm lại xe" in told[2]


async def test_a_closed_tip_refuses_actions_but_takes_notes(desk: Desk) -> None:
    resident = await desk.resident("res-1")
    original = await DESK.submit(resident, tip_input(desk.ea_kar))
    sent = await DESK.submit(resident, tip_input(desk.ea_kar))
    await DESK.reject(desk.officer, sent.reference, "Không đủ thông tin")

    for action in (
        DESK.acknowledge(desk.officer, sent.reference),
        DESK.take(desk.officer, sent.reference),
        DESK.resolve(desk.officer, sent.reference, "xong"),
        DESK.reject(desk.officer, sent.reference, "lại"),
        DESK.mark_duplicate(desk.officer, sent.reference, original.reference),
        DESK.add(resident, sent.reference, "Thêm thông tin"),
    ):
        with pytest.raises(Conflict):
            await action
    await DESK.note(desk.officer, sent.reference, "Người dân gọi lại, đã giải thích")
    notes = await TipMessage.filter(tip_id=sent.tip.id, direction=TipMessageDirection.INTERNAL_NOTE)
    assert [n.text for n in notes] == ["Người dân gọi lại, đã giải thích"]
    assert (await Tip.get(id=sent.tip.id)).status is TipStatus.REJECTED


async def test_another_communes_officer_cannot_see_or_act_on_a_tip(desk: Desk) -> None:
    sent = await DESK.submit(await desk.resident("res-1"), tip_input(desk.ea_kar))
    for action in (
        tips.access_tip(desk.pal_officer, sent.reference),
        DESK.acknowledge(desk.pal_officer, sent.tip.id),
        DESK.reply(desk.pal_officer, sent.reference, "Chào"),
    ):
        with pytest.raises(NotFound):
            await action
    assert (await tips.access_tip(desk.supervisor, sent.reference)).id == sent.tip.id
    assert await TipEvent.filter(tip_id=sent.tip.id).count() == 1


async def test_a_reply_is_relayed_to_the_resident_and_is_the_first_response(
    desk: Desk, clock: Clock
) -> None:
    resident = await desk.resident("res-1")
    sent = await DESK.submit(resident, tip_input(desk.ea_kar))
    clock.advance(minutes=7)

    assert await DESK.reply(desk.officer, sent.reference, "Chúng tôi đang đến, xin chờ")

    tip = await Tip.get(id=sent.tip.id)
    assert tip.first_response_at == clock.now and tip.status is TipStatus.ACKNOWLEDGED
    answers = await replies(resident)
    assert len(answers) == 1 and answers[0].tip_id == tip.id  # type: ignore[attr-defined]
    assert answers[0].payload["text"] == (
        f"Police reply about your tip {sent.reference}:\nChúng tôi đang đến, xin chờ"
    )
    assert actions(answers[0]) == {f"tipadd:{tip.reference}"}
    [message] = await TipMessage.filter(tip_id=tip.id, direction=TipMessageDirection.TO_RESIDENT)
    assert message.author_id == desk.officer.id  # type: ignore[attr-defined]
    assert await AuditEvent.filter(action="tip.replied", actor_staff_id=desk.officer.id).count()


async def test_a_reply_to_a_resident_who_erased_themselves_is_kept_but_not_sent(
    desk: Desk,
) -> None:
    resident = await desk.resident("res-1")
    sent = await DESK.submit(resident, tip_input(desk.ea_kar))
    await follows.erase_contact(resident)
    assert await vault.forget_tipster(pagekit.KEYRING, resident) == 1

    assert not await DESK.reply(desk.officer, sent.reference, "Anh/chị còn ở đó không?")

    [message] = await TipMessage.filter(
        tip_id=sent.tip.id, direction=TipMessageDirection.TO_RESIDENT
    )
    assert message.text == "Anh/chị còn ở đó không?"
    assert await Delivery.filter(tip_id=sent.tip.id, kind=DeliveryKind.REPLY).count() == 0
    # The tip itself stays: it is a police record.
    assert (await Tip.get(id=sent.tip.id)).first_response_at is not None


async def test_what_the_resident_adds_reaches_whoever_took_the_tip(desk: Desk) -> None:
    await duty.duty_on(desk.officer)
    resident = await desk.resident("res-1")
    sent = await DESK.submit(resident, tip_input(desk.ea_kar))
    await DESK.take(desk.colleague, sent.reference)
    before = len(await cards(desk.chat(desk.officer)))

    await DESK.add(resident, sent.reference.lower(), "Xe màu đỏ, biển 47")

    [card] = await cards(desk.chat(desk.colleague), sent.tip)
    assert card.payload["text"].startswith("🔔 The resident added to a tip")
    assert len(await cards(desk.chat(desk.officer))) == before
    texts = await TipMessage.filter(
        tip_id=sent.tip.id, direction=TipMessageDirection.FROM_RESIDENT
    ).values_list("text", flat=True)
    assert list(texts) == ["Mất xe máy ở chợ", "Xe màu đỏ, biển 47"]
    assert await TipEvent.filter(tip_id=sent.tip.id, kind="resident_added").count() == 1


async def test_residents_reach_only_their_own_tips(desk: Desk) -> None:
    lan, minh = await desk.resident("lan"), await desk.resident("minh")
    first = await DESK.submit(lan, tip_input(desk.ea_kar))
    second = await DESK.submit(lan, tip_input(desk.ea_pal, anonymous=False))
    other = await DESK.submit(minh, tip_input(desk.ea_kar))

    assert [t.id for t in await DESK.mine(lan)] == [second.tip.id, first.tip.id]
    assert [t.id for t in await DESK.mine(minh)] == [other.tip.id]
    with pytest.raises(NotFound):
        await DESK.own_tip(lan, other.reference)
    with pytest.raises(NotFound):
        await DESK.add(lan, other.reference, "Tôi biết chuyện này")
    with pytest.raises(NotFound):
        await DESK.own_tip(lan, "T-AAAAAA")


async def test_a_duplicate_points_to_its_original(desk: Desk) -> None:
    resident = await desk.resident("res-1")
    original = await DESK.submit(resident, tip_input(desk.ea_kar))
    copy = await DESK.submit(await desk.resident("res-2"), tip_input(desk.ea_kar))

    with pytest.raises(ValidationError):
        await DESK.mark_duplicate(desk.officer, copy.reference, copy.reference)
    await DESK.mark_duplicate(desk.officer, copy.reference, original.reference)

    stored = await Tip.get(id=copy.tip.id)
    assert stored.status is TipStatus.DUPLICATE
    assert stored.duplicate_of_id == original.tip.id  # type: ignore[attr-defined]
    [event] = await TipEvent.filter(tip_id=stored.id, kind="status")
    assert event.data["original"] == original.tip.id
