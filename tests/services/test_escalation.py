"""Escalation with a controlled clock: an unacknowledged urgent tip reaches the supervisors of
its unit's parent at its deadline, once per repeat interval, and nobody else; an acknowledged
tip stops escalating until its resolution deadline passes; a unit's own policy is respected;
two tickers at once escalate once. And the response-time figures a supervisors' board shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Contact,
    Role,
    Staff,
    Tip,
    TipEvent,
    Unit,
    UnitLevel,
    Urgency,
)
from communepol.services import sla
from communepol.services.tips import TipInput, Tips
from tests import pagekit
from tests.services.test_tips import Clock, actions, cards, clock, linked

__all__ = ["clock"]  # the fixture, imported for the tests below

DESK = Tips(pagekit.KEYRING)
KEYRING = pagekit.KEYRING


@dataclass
class District:
    """Đắk Lắk with a province supervisor; district Krông Pắc with two supervisors (one reads
    English) above the commune Ea Kly and its officer; district Lắk with its own supervisor."""

    province: Unit
    district: Unit
    commune: Unit
    bot: ChannelAccount
    officer: Staff
    supervisors: list[Staff]
    province_supervisor: Staff
    other_supervisor: Staff
    chats: dict[int, Contact]
    resident: Contact

    def chat(self, staff: Staff) -> Contact:
        return self.chats[staff.id]


@pytest.fixture
async def area(db: TortoiseContext, clock: Clock) -> District:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    district = await pagekit.unit("Huyện Krông Pắc", UnitLevel.DISTRICT, parent=province)
    other = await pagekit.unit("Huyện Lắk", UnitLevel.DISTRICT, parent=province)
    commune = await pagekit.unit("Xã Ea Kly", parent=district)
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an Đắk Lắk")
    officer = await Staff.create(full_name="Y Moan", role=Role.OFFICER, unit=commune, locale="en")
    supervisors = [
        await Staff.create(
            full_name="Lê Văn Cường", role=Role.SUPERVISOR, unit=district, locale="en"
        ),
        await Staff.create(full_name="Phạm Thị Dung", role=Role.SUPERVISOR, unit=district),
    ]
    above = await Staff.create(full_name="Hồ Văn Tâm", role=Role.ADMIN, unit=province)
    beside = await Staff.create(full_name="Đỗ Thị Nga", role=Role.SUPERVISOR, unit=other)
    chats = {
        person.id: await linked(person, bot, f"staff-{person.id}")
        for person in (officer, *supervisors, above, beside)
    }
    resident = await pagekit.contact(bot, "resident", "en")
    return District(
        province, district, commune, bot, officer, supervisors, above, beside, chats, resident
    )


async def urgent_tip(area: District) -> Tip:
    """A fight reported in Ea Kly: critical, first response due in ten minutes."""
    sent = await DESK.submit(
        area.resident, TipInput("fight_weapons", "Đánh nhau có dao ở quán", area.commune.id)
    )
    return await Tip.get(id=sent.tip.id)


async def supervisor_cards(area: District, tip: Tip | None = None) -> list[int]:
    """How many cards each supervisor of the district has (about ``tip``, when given)."""
    return [len(await cards(area.chat(s), tip)) for s in area.supervisors]


async def escalations(tip: Tip) -> list[TipEvent]:
    return list(await TipEvent.filter(tip_id=tip.id, kind="escalated").order_by("id"))


async def test_an_unacknowledged_urgent_tip_reaches_the_parents_supervisors_once_per_interval(
    area: District, clock: Clock
) -> None:
    tip = await urgent_tip(area)
    deadline = tip.first_response_due_at
    assert deadline == clock.now + timedelta(minutes=10)
    reader, colleague = area.supervisors

    assert await sla.escalate_due(KEYRING, deadline - timedelta(seconds=1)) == 0
    assert await supervisor_cards(area) == [0, 0]

    assert await sla.escalate_due(KEYRING, deadline) == 1
    [card] = await cards(area.chat(reader), tip)
    assert card.payload["text"].startswith("🔔 Overdue tip, escalated to you")
    assert f"T-{tip.reference}" in card.payload["text"]
    assert f"tk:{tip.id}:ack" in actions(card)
    # The Vietnamese reader gets the same card in their language: same tip, same buttons.
    [card_vi] = await cards(area.chat(colleague), tip)
    assert f"T-{tip.reference}" in card_vi.payload["text"] and actions(card_vi) == actions(card)
    # Not the commune's officer (who had the new tip), nor anyone of another unit, nor the
    # province: the district is the nearest unit up the tree with supervisors.
    assert len(await cards(area.chat(area.officer), tip)) == 1
    assert await cards(area.chat(area.other_supervisor)) == []
    assert await cards(area.chat(area.province_supervisor)) == []

    # Within the repeat interval (ten minutes for a critical tip): nothing more.
    assert await sla.escalate_due(KEYRING, deadline + timedelta(seconds=30)) == 0
    assert await sla.escalate_due(KEYRING, deadline + timedelta(minutes=9, seconds=59)) == 0
    assert await supervisor_cards(area, tip) == [1, 1]

    assert await sla.escalate_due(KEYRING, deadline + timedelta(minutes=10)) == 1
    assert await supervisor_cards(area, tip) == [2, 2]
    assert await sla.escalate_due(KEYRING, deadline + timedelta(minutes=11)) == 0

    events = await escalations(tip)
    assert [(e.data["level"], e.data["deadline"]) for e in events] == [
        (1, "first_response"),
        (2, "first_response"),
    ]
    assert events[0].data["to"] == [s.id for s in area.supervisors]
    trail = await AuditEvent.filter(action="tip.escalated", object_id=str(tip.id)).order_by("id")
    assert [(row.data["level"], row.actor_label, row.unit_id) for row in trail] == [
        (1, "ticker", area.commune.id),
        (2, "ticker", area.commune.id),
    ]
    stored = await Tip.get(id=tip.id)
    assert (stored.escalation_level, stored.last_escalated_at) == (
        2,
        deadline + timedelta(minutes=10),
    )


async def test_acknowledging_stops_the_escalation_until_the_resolution_deadline(
    area: District, clock: Clock
) -> None:
    tip = await urgent_tip(area)
    deadline = tip.first_response_due_at
    assert deadline is not None and tip.resolution_due_at is not None
    assert await sla.escalate_due(KEYRING, deadline) == 1

    clock.now = deadline + timedelta(minutes=2)
    await DESK.acknowledge(area.officer, tip.reference)
    for later in (timedelta(minutes=10), timedelta(hours=5), timedelta(hours=23)):
        assert await sla.escalate_due(KEYRING, deadline + later) == 0

    # A day after it arrived it is still not resolved: the resolution deadline escalates it.
    assert await sla.escalate_due(KEYRING, tip.resolution_due_at - timedelta(seconds=1)) == 0
    assert await sla.escalate_due(KEYRING, tip.resolution_due_at) == 1
    assert [e.data["deadline"] for e in await escalations(tip)] == ["first_response", "resolution"]
    assert await supervisor_cards(area, tip) == [2, 2]

    # Once resolved, nothing is overdue any more.
    await DESK.resolve(area.officer, tip.reference, "Đã giải tán, lập biên bản")
    assert await sla.escalate_due(KEYRING, tip.resolution_due_at + timedelta(days=2)) == 0


async def test_a_units_own_policy_sets_the_deadline_and_the_interval(
    area: District, clock: Clock
) -> None:
    await sla.set_policy(area.province, Urgency.CRITICAL, 3, 60, 5)
    tip = await urgent_tip(area)
    start = clock.now
    assert tip.first_response_due_at == start + timedelta(minutes=3)

    assert await sla.escalate_due(KEYRING, start + timedelta(minutes=2, seconds=59)) == 0
    assert await sla.escalate_due(KEYRING, start + timedelta(minutes=3)) == 1
    assert await sla.escalate_due(KEYRING, start + timedelta(minutes=7)) == 0
    assert await sla.escalate_due(KEYRING, start + timedelta(minutes=8)) == 1
    assert [e.data["level"] for e in await escalations(tip)] == [1, 2]


async def test_without_supervisors_in_the_district_the_province_is_told(
    area: District, clock: Clock
) -> None:
    await Staff.filter(unit_id=area.district.id).update(active=False)
    tip = await urgent_tip(area)
    assert tip.first_response_due_at is not None
    assert await sla.escalate_due(KEYRING, tip.first_response_due_at) == 1
    assert len(await cards(area.chat(area.province_supervisor), tip)) == 1
    assert await supervisor_cards(area) == [0, 0]


async def test_two_tickers_at_once_escalate_once(
    area: District, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tip = await urgent_tip(area)
    due = tip.first_response_due_at
    assert due is not None
    # Both tickers have read the overdue tip before either claims it: the race the claim is for.
    both_read = asyncio.Barrier(2)
    policy_for = sla.policy_for

    async def after_both_read(unit: Unit, urgency: Urgency) -> sla.Policy:
        await asyncio.wait_for(both_read.wait(), 5)
        return await policy_for(unit, urgency)

    monkeypatch.setattr(sla, "policy_for", after_both_read)

    sent = await asyncio.gather(
        sla.escalate_due(KEYRING, due), sla.escalate_due(KEYRING, due + timedelta(seconds=1))
    )

    assert sorted(sent) == [0, 1]
    assert len(await escalations(tip)) == 1
    assert await supervisor_cards(area, tip) == [1, 1]
    assert await AuditEvent.filter(action="tip.escalated").count() == 1


# --- response times -----------------------------------------------------------------------------


async def test_response_times_per_commune(area: District, clock: Clock) -> None:
    quiet = await pagekit.unit("Xã Ea Phê", parent=area.district)
    reader = area.supervisors[0]

    def report(text: str) -> TipInput:
        return TipInput("theft", text, area.commune.id)

    # Two months ago: outside the 30 days the figures cover.
    await DESK.submit(area.resident, report("Chuyện cũ"))
    clock.advance(days=60)
    start = clock.now
    answered_in_4 = await DESK.submit(area.resident, report("Mất trộm gà"))
    clock.advance(minutes=1)
    answered_in_10 = await DESK.submit(area.resident, report("Mất trộm xe đạp"))
    clock.advance(minutes=1)
    await DESK.submit(area.resident, report("Mất trộm điện thoại"))  # never answered
    clock.now = start + timedelta(minutes=4)
    await DESK.reply(area.officer, answered_in_4.reference, "Đã ghi nhận")
    clock.now = start + timedelta(minutes=11)
    await DESK.acknowledge(area.officer, answered_in_10.reference)
    await DESK.resolve(area.officer, answered_in_10.reference, "Đã tìm thấy")

    # Two hours later: the unanswered theft is past its one-hour first-response deadline.
    now = start + timedelta(hours=2)
    figures = {f.unit_name: f for f in await sla.response_times(reader, now=now)}

    assert set(figures) == {"Xã Ea Kly", "Xã Ea Phê"}
    kly = figures["Xã Ea Kly"]
    # Open and overdue count every open tip now, the old one too (past its deadline as well).
    assert (kly.received, kly.answered, kly.open, kly.overdue) == (3, 2, 3, 2)
    assert kly.median_minutes == 7.0
    assert kly.p90_minutes == 10.0
    phe = figures["Xã Ea Phê"]
    assert (phe.received, phe.answered, phe.median_minutes, phe.overdue) == (0, 0, None, 0)
    assert phe.unit_id == quiet.id
    # The old tip is received within a window that reaches back to it.
    wide = await sla.response_times(reader, since=start - timedelta(days=90), now=now)
    kly_wide = next(f for f in wide if f.unit_id == area.commune.id)
    assert (kly_wide.received, kly_wide.answered, kly_wide.open) == (4, 2, 3)


async def test_tips_waiting_for_their_repeat_never_hide_one_that_is_due(
    area: District, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sla, "ESCALATE_BATCH", 2)  # a tick reads overdue tips two at a time
    early = [await urgent_tip(area) for _ in range(3)]
    deadline = early[0].first_response_due_at
    assert deadline is not None
    assert await sla.escalate_due(KEYRING, deadline) == 3  # more than one batch

    clock.advance(minutes=5)
    late = await urgent_tip(area)  # the last by id, behind three that are not due again yet
    assert late.first_response_due_at == deadline + timedelta(minutes=5)
    assert await sla.escalate_due(KEYRING, late.first_response_due_at) == 1
    assert [len(await escalations(tip)) for tip in [*early, late]] == [1, 1, 1, 1]
