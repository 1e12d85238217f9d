"""The scope matrix of tips: an officer of commune A can never see or act on a tip of commune B
— by a service call, a bot command or a forged button payload. Each action is refused with the
same `NotFound` a tip that does not exist gets, and nothing changes: not the tip, not its
thread or events, no message to the resident, no audit record.

Also: a tip routed to the province's cyber desk is visible to the desk's officer and still not
to commune A's officer; a supervisor of another district and a deactivated staff member see
nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from tortoise.context import TortoiseContext

from bots.conversation import BotServices, ConversationEngine
from communepol.app import resident_conversations
from communepol.clock import utcnow
from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Contact,
    ConversationState,
    Delivery,
    Post,
    Role,
    RoutingRule,
    RumourCluster,
    Staff,
    Tip,
    TipCategory,
    TipEvent,
    TipMessage,
    Unit,
    UnitLevel,
)
from communepol.errors import NotFound
from communepol.i18n import I18n
from communepol.ports import InboundKind
from communepol.services import rumours, tipmedia, tips
from communepol.services import staff as roster
from communepol.services.tips import TipInput, TipList, Tips
from communepol.settings import Settings
from tests import pagekit
from tests.botkit import Chatter, Reply, reply_of

I18N = I18n.load(default_locale="vi")
NOT_FOUND = "Not found, or not in your area. Check the number."
BASE_URL = "https://ca.example"


@dataclass
class World:
    """Province → district 1 (communes A and B) and district 2 (commune C); the province's
    cyber desk receives every fraud tip of the province by a routing rule."""

    bot: ChannelAccount
    a: Unit
    b: Unit
    desk_unit: Unit
    officer_a: Staff
    officer_b: Staff
    desk_officer: Staff
    other_supervisor: Staff  # of district 2
    deactivated: Staff  # was an officer of B
    resident: Contact
    tip_a: Tip
    tip_b: Tip
    rumour_b: Tip
    fraud_b: Tip


async def world() -> World:
    tinh = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    d1 = await pagekit.unit("Huyện Ea Kar", UnitLevel.DISTRICT, parent=tinh, code="66-1")
    d2 = await pagekit.unit("Huyện Krông Pắc", UnitLevel.DISTRICT, parent=tinh, code="66-2")
    a = await pagekit.unit("Xã Ea Kar", parent=d1, code="24340")
    b = await pagekit.unit("Xã Ea Păl", parent=d1, code="24341")
    c = await pagekit.unit("Xã Ea Kuăng", parent=d2, code="24400")
    desk_unit = await pagekit.unit("Phòng An ninh mạng", UnitLevel.DISTRICT, parent=tinh)
    await RoutingRule.create(scope_unit=tinh, category=TipCategory.FRAUD, target_unit=desk_unit)
    bot = await pagekit.account(ChannelKind.TELEGRAM, "province bot")
    for unit, slug in ((a, "ca-a"), (b, "ca-b"), (c, "ca-c")):
        await pagekit.page(unit, slug, bot)
    # Staff first: a tip of a unit with nobody in it would be overdue at once.
    officer_a = await pagekit.staff(a, name="Nguyễn Văn An")
    officer_b = await pagekit.staff(b, name="Trần Thị Bình")
    desk_officer = await pagekit.staff(desk_unit, name="Phan Văn Mạng")
    other_supervisor = await pagekit.staff(d2, Role.SUPERVISOR, name="Lê Văn Cường")
    deactivated = await pagekit.staff(b, name="Đỗ Văn Cũ")
    await Staff.filter(id=deactivated.id).update(active=False)
    await deactivated.refresh_from_db()
    resident = await pagekit.contact(bot, "resident", locale="en")
    desk = Tips(pagekit.KEYRING)

    async def submit(unit: Unit, category: str, text: str) -> Tip:
        return (await desk.submit(resident, TipInput(category, text, unit.id))).tip

    tip_a = await submit(a, "theft", "A bicycle was stolen in Ea Kar.")
    tip_b = await submit(b, "theft", "A buffalo was stolen in Ea Păl.")
    rumour_b = await submit(b, "rumour_check", "Mai cúp điện toàn tỉnh ba ngày.")
    fraud_b = await submit(b, "fraud", "Someone posing as the bank asked for my OTP.")
    # B's tip is overdue and taken, so every list and count has a reason to show it.
    await Tip.filter(id=tip_b.id).update(
        assignee_id=officer_b.id, first_response_due_at=utcnow() - timedelta(hours=1)
    )
    await tip_b.refresh_from_db()
    return World(
        bot,
        a,
        b,
        desk_unit,
        officer_a,
        officer_b,
        desk_officer,
        other_supervisor,
        deactivated,
        resident,
        tip_a,
        tip_b,
        rumour_b,
        fraud_b,
    )


async def snapshot() -> dict[str, Any]:
    """Everything a refused action could have changed (the record of the refusal itself
    aside: `refusals`)."""
    return {
        "tips": await Tip.all()
        .order_by("id")
        .values_list(
            "id", "status", "assignee_id", "outcome", "duplicate_of_id", "first_response_at"
        ),
        "messages": await TipMessage.all().count(),
        "events": await TipEvent.all().count(),
        "to resident": await Delivery.filter(tip_id__isnull=False, kind="reply").count(),
        "verdicts": await RumourCluster.all().values_list("id", "verdict", "post_id"),
        "posts": await Post.all().count(),
        "audit": await AuditEvent.filter(object_type__in=["tip", "rumour_cluster"])
        .exclude(action="access.refused")
        .count(),
    }


async def refusals(staff: Staff) -> list[tuple[int, str, int]]:
    """The refused attempts recorded for ``staff``: (tip id, source, the tip's unit)."""
    rows = await AuditEvent.filter(action="access.refused", actor_staff_id=staff.id).order_by("id")
    for row in rows:
        assert (row.object_type, row.unit_id) == ("tip", staff.unit_id)  # type: ignore[attr-defined]
        assert set(row.data) == {"tip_unit"}  # no text, no sender
    return [(int(row.object_id or 0), row.source, row.data["tip_unit"]) for row in rows]


Action = Callable[[World, Staff], Awaitable[object]]
DESK = Tips(pagekit.KEYRING)

SERVICE_ACTIONS: dict[str, Action] = {
    "access_tip by id": lambda w, s: tips.access_tip(s, w.tip_b.id),
    "access_tip by reference": lambda w, s: tips.access_tip(s, f"t-{w.tip_b.reference.lower()}"),
    "access_tip by id as text": lambda w, s: tips.access_tip(s, str(w.tip_b.id)),
    "acknowledge": lambda w, s: DESK.acknowledge(s, w.tip_b.id),
    "take": lambda w, s: DESK.take(s, w.tip_b.id),
    "reply": lambda w, s: DESK.reply(s, w.tip_b.id, "We are coming."),
    "note": lambda w, s: DESK.note(s, w.tip_b.id, "Looks serious."),
    "resolve": lambda w, s: DESK.resolve(s, w.tip_b.id, "Buffalo found."),
    "reject": lambda w, s: DESK.reject(s, w.tip_b.id, "Not a police matter."),
    "mark_duplicate (B's tip)": lambda w, s: DESK.mark_duplicate(s, w.tip_b.id, w.tip_a.id),
    "mark_duplicate (B's as original)": lambda w, s: DESK.mark_duplicate(s, w.tip_a.id, w.tip_b.id),
    "thread": lambda w, s: tips.thread(s, w.tip_b.id),
    "events": lambda w, s: tips.events(s, w.tip_b.id),
    "give_verdict": lambda w, s: rumours.give_verdict(
        pagekit.KEYRING, s, w.rumour_b.id, "false", "There is no such outage."
    ),
    "attachments": lambda w, s: tipmedia.attachment_messages(
        pagekit.KEYRING, s, w.tip_b.id, BASE_URL
    ),
}

OUTSIDERS = {
    "officer of A": lambda w: w.officer_a,
    "supervisor of another district": lambda w: w.other_supervisor,
    "cyber desk officer (tip not routed)": lambda w: w.desk_officer,
}


@pytest.mark.parametrize("who", list(OUTSIDERS))
@pytest.mark.parametrize("action", list(SERVICE_ACTIONS))
async def test_every_action_on_another_communes_tip_is_not_found_and_changes_nothing(
    db: TortoiseContext, action: str, who: str
) -> None:
    w = await world()
    staff = OUTSIDERS[who](w)
    before = await snapshot()
    with pytest.raises(NotFound):
        await SERVICE_ACTIONS[action](w, staff)
    assert await snapshot() == before
    # The attempt itself is recorded, once, against the tip it aimed at (the breach watch
    # counts these); the rumour's verdict aims at its tip too.
    aimed = w.rumour_b if action == "give_verdict" else w.tip_b
    if action == "mark_duplicate (B's as original)" and who != "officer of A":
        aimed = w.tip_a  # they may not see A's tip either: refused at the first one
    assert await refusals(staff) == [(aimed.id, "bot", aimed.unit_id)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("action", list(SERVICE_ACTIONS))
async def test_a_deactivated_staff_member_can_do_nothing(db: TortoiseContext, action: str) -> None:
    w = await world()
    before = await snapshot()
    # Refused, nothing changed, and told the same as for a tip that does not exist.
    with pytest.raises(NotFound):
        await SERVICE_ACTIONS[action](w, w.deactivated)
    assert await snapshot() == before
    assert await refusals(w.deactivated) == []  # refused before any tip was looked up
    with pytest.raises(NotFound):
        await tips.list_tips(w.deactivated)
    with pytest.raises(NotFound):
        await tips.count_tips(w.deactivated)


async def test_lists_and_counts_leave_out_other_communes(db: TortoiseContext) -> None:
    w = await world()
    b_tips = {w.tip_b.id, w.rumour_b.id, w.fraud_b.id}
    for which in (TipList.OPEN, TipList.MINE, TipList.OVERDUE):
        assert [t.id for t in await tips.list_tips(w.officer_a, which)] == (
            [w.tip_a.id] if which == TipList.OPEN else []
        )
        # The same lists, seen from B, do show B's tips: the lists are not simply empty.
        assert {t.id for t in await tips.list_tips(w.officer_b, which)} & b_tips
    assert await tips.count_tips(w.officer_a) == {"open": 1, "new": 1, "overdue": 0, "mine": 0}
    assert await tips.count_tips(w.officer_b) == {"open": 3, "new": 3, "overdue": 1, "mine": 1}
    assert await tips.list_tips(w.other_supervisor) == []
    assert await tips.count_tips(w.other_supervisor) == {
        "open": 0,
        "new": 0,
        "overdue": 0,
        "mine": 0,
    }


async def test_a_routed_tip_reaches_the_desk_but_still_not_commune_a(db: TortoiseContext) -> None:
    w = await world()
    assert (await tips.access_tip(w.desk_officer, w.fraud_b.id)).id == w.fraud_b.id
    assert [t.id for t in await tips.list_tips(w.desk_officer)] == [w.fraud_b.id]
    with pytest.raises(NotFound):
        await tips.access_tip(w.desk_officer, w.tip_b.id)  # only the fraud tip is routed
    before = await snapshot()
    with pytest.raises(NotFound):
        await tips.access_tip(w.officer_a, w.fraud_b.id)
    with pytest.raises(NotFound):
        await DESK.take(w.officer_a, w.fraud_b.id)
    assert w.fraud_b.id not in {t.id for t in await tips.list_tips(w.officer_a)}
    assert await snapshot() == before
    # The desk acts on it.
    taken = await DESK.take(w.desk_officer, w.fraud_b.id)
    assert taken.assignee_id == w.desk_officer.id  # type: ignore[attr-defined]


# -- through the bot -------------------------------------------------------------------------


class Person(Chatter):
    """Someone writing to the bot; only the replies to them are read back."""

    def __init__(self, account: ChannelAccount, settings: Settings, user: str) -> None:
        services = BotServices(settings=settings, keyring=pagekit.KEYRING)
        engine = ConversationEngine(
            resident_conversations(), pagekit.KEYRING, I18N, base_url=BASE_URL, services=services
        )
        super().__init__(engine, account, user, "An")

    async def event(self, kind: InboundKind, **fields: Any) -> list[Reply]:
        last = await Delivery.all().order_by("-id").first()
        await super().event(kind, **fields)
        rows = await Delivery.filter(
            kind="reply", contact_id=(await self.contact()).id, id__gt=last.id if last else 0
        ).order_by("id")
        return [reply_of(row.payload) for row in rows]


async def officer_of_a(w: World, settings: Settings) -> Person:
    person = Person(w.bot, settings, "tg-officer-a")
    await person.send("/start")
    await person.press("lang:en")
    code, _ = await roster.issue_link_code(pagekit.KEYRING, w.officer_a)
    [linked] = await person.send(f"/link {code}")
    assert linked.text.startswith("Linked: here you act as Nguyễn Văn An")
    return person


def card_button(verb: str) -> Callable[[World], tuple[InboundKind, str]]:
    return lambda w: (InboundKind.BUTTON, f"tk:{w.tip_b.id}:{verb}")


FORGED: dict[str, Callable[[World], tuple[InboundKind, str]]] = {
    **{
        f"tk {verb}": card_button(verb)
        for verb in ("ack", "take", "reply", "note", "resolve", "reject", "dup", "files")
    },
    "tk verdict": lambda w: (InboundKind.BUTTON, f"tk:{w.rumour_b.id}:verdict"),
    "tko": lambda w: (InboundKind.BUTTON, f"tko:{w.tip_b.id}"),
    "tkv": lambda w: (InboundKind.BUTTON, f"tkv:{w.rumour_b.id}:false"),
    "tkp": lambda w: (InboundKind.BUTTON, f"tkp:{w.rumour_b.id}"),
    "/viewtip reference": lambda w: (InboundKind.COMMAND, f"/viewtip T-{w.tip_b.reference}"),
    "/xemtin id": lambda w: (InboundKind.COMMAND, f"/xemtin {w.tip_b.id}"),
    "/viewtip routed fraud": lambda w: (InboundKind.COMMAND, f"/viewtip {w.fraud_b.id}"),
}


@pytest.mark.parametrize("forged", list(FORGED))
async def test_a_forged_payload_for_another_communes_tip_is_not_found(
    db: TortoiseContext, settings: Settings, forged: str
) -> None:
    w = await world()
    officer = await officer_of_a(w, settings)
    before = await snapshot()
    kind, payload = FORGED[forged](w)
    if kind is InboundKind.BUTTON:
        replies = await officer.press(payload)
    else:
        replies = await officer.send(payload)
    assert [r.text for r in replies] == [NOT_FOUND]
    state = await ConversationState.get_or_none(contact_id=(await officer.contact()).id)
    assert state is None or not state.flow  # no question about B's tip is pending
    # What they type next is not taken as a reply, outcome or reason for B's tip.
    await officer.send("Close it: the buffalo came home.")
    assert await snapshot() == before
    # The forged attempt is on the record, as the bot's.
    b_tips = {w.tip_b.id, w.rumour_b.id, w.fraud_b.id}
    found = await refusals(w.officer_a)
    assert found and {(tip, source) for tip, source, _ in found} <= {(t, "bot") for t in b_tips}


async def test_an_unlinked_person_pressing_a_card_button_is_not_understood(
    db: TortoiseContext, settings: Settings
) -> None:
    w = await world()
    stranger = Person(w.bot, settings, "tg-stranger")
    await stranger.send("/start")
    await stranger.press("lang:en")
    before = await snapshot()
    for action in (f"tk:{w.tip_b.id}:ack", f"tko:{w.tip_b.id}", f"tkv:{w.rumour_b.id}:true"):
        replies = await stranger.press(action)
        assert replies[0].text == "Sorry, I did not understand that."
    assert await snapshot() == before
