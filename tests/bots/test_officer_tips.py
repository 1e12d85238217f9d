"""The officer's side of tips, driven through the conversation engine the way the inbox worker
runs it: duty shifts deciding who hears of a new tip and the handover at the end of one, the
lists, a tip's card and each of its buttons (acknowledge, take, reply relayed to the resident
without the officer's name, internal note, resolve, reject, duplicate), a supervisor of the
district acting on a commune's tip, and a rumour's verdict answering its whole cluster and
becoming a rumour-check post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.context import TortoiseContext

from bots.conversation import BotServices, ConversationEngine
from communepol.app import resident_conversations
from communepol.clock import utcnow
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    DeliveryKind,
    Page,
    Post,
    PostCategory,
    PostStatus,
    Role,
    Staff,
    Tip,
    TipEvent,
    TipMessage,
    TipMessageDirection,
    TipStatus,
    Unit,
    UnitLevel,
)
from communepol.i18n import I18n
from communepol.ports import InboundKind
from communepol.services import staff as roster
from communepol.services import vault
from communepol.services.tips import TipInput, Tips
from communepol.settings import Settings
from tests import pagekit
from tests.botkit import Chatter, Reply, reply_of

I18N = I18n.load(default_locale="vi")
NOT_FOUND = "Not found, or not in your area. Check the number."


class Person(Chatter):
    """Someone writing to the bot; only the replies to them are read back (a relayed reply to
    a resident is a reply row too, but to the resident)."""

    def __init__(self, account: ChannelAccount, settings: Settings, user: str) -> None:
        services = BotServices(settings=settings, keyring=pagekit.KEYRING)
        engine = ConversationEngine(
            resident_conversations(),
            pagekit.KEYRING,
            I18N,
            base_url="https://ca.example",
            services=services,
        )
        super().__init__(engine, account, user, "An")

    async def event(self, kind: InboundKind, **fields: Any) -> list[Reply]:
        last = await Delivery.all().order_by("-id").first()
        await super().event(kind, **fields)
        me = await self.contact()
        rows = (
            await Delivery.filter(
                kind=DeliveryKind.REPLY, contact_id=me.id, id__gt=last.id if last else 0
            )
            .order_by("id")
            .all()
        )
        return [reply_of(row.payload) for row in rows]

    async def english(self) -> None:
        await self.send("/start")
        await self.press("lang:en")


@dataclass
class District:
    """A district with two communes (Ea Kar with a page, Ea Păl), two officers of Ea Kar, a
    supervisor of the district, and residents writing in English."""

    bot: ChannelAccount
    ea_kar: Unit
    ea_pal: Unit
    page: Page
    an: Staff
    binh: Staff
    supervisor: Staff
    residents: list[Contact]


async def district(*, approval: list[str] | None = None) -> District:
    tinh = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    huyen = await pagekit.unit("Huyện Ea Kar", UnitLevel.DISTRICT, parent=tinh, code="66-1")
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=huyen, code="24340")
    ea_pal = await pagekit.unit("Xã Ea Păl", parent=huyen, code="24341")
    bot = await pagekit.account(ChannelKind.TELEGRAM, "province bot")
    page = await pagekit.page(ea_kar, "ca-xa-ea-kar", bot, approval=approval)
    residents = [await pagekit.contact(bot, f"resident-{i}", locale="en") for i in range(3)]
    return District(
        bot,
        ea_kar,
        ea_pal,
        page,
        await pagekit.staff(ea_kar, name="Nguyễn Văn An"),
        await pagekit.staff(ea_kar, name="Trần Thị Bình"),
        await pagekit.staff(huyen, Role.SUPERVISOR, name="Lê Văn Cường"),
        residents,
    )


async def linked(d: District, who: Staff, settings: Settings, user: str) -> Person:
    person = Person(d.bot, settings, user)
    await person.english()
    code, _ = await roster.issue_link_code(pagekit.KEYRING, who)
    [reply] = await person.send(f"/link {code}")
    assert reply.text.startswith(f"Linked: here you act as {who.full_name}")
    return person


async def submit(
    resident: Contact, unit: Unit, text: str = "Someone stole a motorbike at the market.", **kw: Any
) -> Tip:
    category = kw.pop("category", "theft")
    done = await Tips(pagekit.KEYRING).submit(resident, TipInput(category, text, unit.id, **kw))
    return done.tip


def ref(tip: Tip) -> str:
    return f"T-{tip.reference}"


async def notified(tip: Tip) -> set[int]:
    """The contacts a notification about ``tip`` was planned to."""
    rows = await Delivery.filter(kind=DeliveryKind.NOTIFICATION, tip_id=tip.id).values_list(
        "contact_id", flat=True
    )
    return {int(row) for row in rows}  # type: ignore[call-overload]


async def told(resident: Contact) -> list[str]:
    """What the tip desk planned to a resident, oldest first."""
    rows = await Delivery.filter(contact_id=resident.id, tip_id__isnull=False).order_by("id")
    return [row.payload["text"] for row in rows]


# -- duty ------------------------------------------------------------------------------------


async def test_duty_decides_who_hears_of_a_new_tip_and_going_off_hands_over(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    an = await linked(d, d.an, settings, "tg-an")
    binh = await linked(d, d.binh, settings, "tg-binh")
    an_contact, binh_contact = await an.contact(), await binh.contact()

    # Nobody on duty: every officer of the commune hears of the tip.
    first = await submit(d.residents[0], d.ea_kar)
    assert await notified(first) == {an_contact.id, binh_contact.id}

    [status] = await an.send("/duty")
    assert status.text.startswith("You are off duty. Type /duty on when your shift starts.")
    assert "In your area: 1 open tips, 1 not acknowledged, 0 overdue, 0 assigned to you." in (
        status.text
    )
    [on] = await an.send("/duty on")
    assert on.text.startswith("You are on duty: new tips of Xã Ea Kar now come to you.")
    [again] = await an.send("/truc vao")
    assert again.text.startswith("You were already on duty.")

    # On duty, only An hears of the next tip; Bình, off duty, does not.
    second = await submit(d.residents[1], d.ea_kar)
    assert await notified(second) == {an_contact.id}
    card = (await Delivery.get(tip_id=second.id, kind=DeliveryKind.NOTIFICATION)).payload
    # In the officer's language (staff are Vietnamese unless set otherwise).
    assert card["text"].startswith(f"🔔 Tin báo mới\nTin báo {ref(second)} · Trộm cắp")
    assert ["tk", str(second.id), "ack"] in [
        b["action"].split(":") for row in card["buttons"] for b in row
    ]

    await an.press(f"tk:{second.id}:take")
    [binh_on] = await binh.send("trực on")  # typed, not a command
    assert binh_on.text.startswith("You are on duty")

    [handover] = await an.send("/duty off")
    assert handover.text.startswith(
        "You are off duty. Handover: 2 open tips, 1 not acknowledged, 0 overdue."
    )
    assert "Colleagues still on duty: 1; they were sent this summary." in handover.text
    assert f"Your open tips:\n{ref(second)} · Theft or robbery · In progress · Xã Ea Kar" in (
        handover.text
    )
    assert handover.actions == [f"tko:{second.id}"]
    summary = await Delivery.filter(contact_id=binh_contact.id, kind=DeliveryKind.NOTIFICATION)
    assert any("Nguyễn Văn An đã hết ca trực" in row.payload["text"] for row in summary)
    [not_on] = await an.send("/duty off")
    assert not_on.text == "You were not on duty."

    # Now only Bình is on duty.
    third = await submit(d.residents[2], d.ea_kar)
    assert await notified(third) == {binh_contact.id}
    [last] = await binh.send("hết trực")
    assert "Nobody else is on duty now: new tips go to every officer of the unit." in last.text


# -- lists and cards -------------------------------------------------------------------------


async def test_the_lists_show_open_mine_and_overdue_tips_with_buttons_to_open_them(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    an = await linked(d, d.an, settings, "tg-an")
    theft = await submit(d.residents[0], d.ea_kar)
    fraud = await submit(
        d.residents[1],
        d.ea_kar,
        "They asked for my OTP.",
        category="fraud",
        details={"bank": "VCB"},
    )
    noise = await submit(d.residents[2], d.ea_kar, "Karaoke until 2am.", category="public_order")
    elsewhere = await submit(d.residents[2], d.ea_pal)
    await Tip.filter(id=noise.id).update(first_response_due_at=utcnow() - timedelta(minutes=5))
    await Tips(pagekit.KEYRING).take(d.an, theft.id)

    [listing] = await an.send("/tips")
    assert listing.text.startswith("Open tips in your area: 3\n")
    for tip in (theft, fraud, noise):
        assert ref(tip) in listing.text
    assert ref(elsewhere) not in listing.text
    assert f"⚠️ {ref(noise)} · Public order · New · Xã Ea Kar · answer by " in listing.text
    assert f"{ref(fraud)} · Fraud or online scam · New · Xã Ea Kar · answer by " in listing.text
    assert sorted(listing.actions) == sorted(f"tko:{t.id}" for t in (theft, fraud, noise))

    [mine] = await an.send("/tin cuatoi")
    assert mine.text.startswith("Open tips assigned to you: 1\n")
    assert ref(theft) in mine.text and ref(fraud) not in mine.text
    assert mine.actions == [f"tko:{theft.id}"]

    [overdue] = await an.send("/tips overdue")
    assert overdue.text.startswith("Overdue tips in your area: 1\n")
    assert overdue.actions == [f"tko:{noise.id}"]

    [unknown] = await an.send("/tips yesterday")
    assert unknown.text.startswith("Type /tips for the open tips of your area")

    [card] = await an.press(f"tko:{fraud.id}")
    assert card.text.startswith(f"Tip {ref(fraud)} · Fraud or online scam · CRITICAL")
    assert "Bank: VCB" in card.text
    assert f"tk:{fraud.id}:ack" in card.actions and f"tk:{fraud.id}:resolve" in card.actions
    [typed] = await an.send(f"/viewtip {ref(fraud).lower()}")
    assert typed.text == card.text
    [by_id] = await an.send(f"/xemtin {fraud.id}")
    assert by_id.text == card.text
    [taken] = await an.send(f"/viewtip {theft.reference}")
    assert "Handled by Nguyễn Văn An." in taken.text
    assert f"tk:{theft.id}:ack" not in taken.actions  # taken: nothing left to acknowledge

    [no_files] = await an.press(f"tk:{theft.id}:files")
    assert no_files.text == "This tip has no files."


async def test_acknowledge_take_reply_and_note_from_the_card(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    an = await linked(d, d.an, settings, "tg-an")
    resident = d.residents[0]
    tip = await submit(resident, d.ea_kar, anonymous=False)

    [acked] = await an.press(f"tk:{tip.id}:ack")
    assert acked.text.startswith(
        f"Tip {ref(tip)} acknowledged; the resident is told it was received.\n"
    )
    assert "Xã Ea Kar · Acknowledged · from" in acked.text
    await tip.refresh_from_db()
    assert tip.status is TipStatus.ACKNOWLEDGED
    event = await TipEvent.filter(tip_id=tip.id, kind="status").order_by("-id").first()
    assert event is not None and event.actor_id == d.an.id  # type: ignore[attr-defined]
    assert event.data["to"] == "acknowledged"
    assert (await told(resident))[-1] == f"Your tip {ref(tip)} was received by an officer."
    [twice] = await an.press(f"tk:{tip.id}:ack")
    assert twice.text.startswith(f"Tip {ref(tip)} was already acknowledged.")

    [taken] = await an.press(f"tk:{tip.id}:take")
    assert taken.text.startswith(f"Tip {ref(tip)} is yours now")
    assert "Handled by Nguyễn Văn An." in taken.text
    await tip.refresh_from_db()
    assert tip.status is TipStatus.IN_PROGRESS
    assert tip.assignee_id == d.an.id
    [mine_already] = await an.press(f"tk:{tip.id}:take")
    assert mine_already.text.startswith(f"Tip {ref(tip)} is already yours.")

    [ask] = await an.press(f"tk:{tip.id}:reply")
    assert "It reaches them as “Police reply”, without your name." in ask.text
    assert ask.actions == ["tk:cancel"]
    [sent] = await an.send("We are on our way, please stay near the gate.")
    assert sent.text == f"Your reply was sent to the resident of tip {ref(tip)}."
    relayed = (
        await Delivery.filter(contact_id=resident.id, kind=DeliveryKind.REPLY)
        .order_by("-id")
        .first()
    )
    assert relayed is not None and relayed.tip_id == tip.id
    assert relayed.payload["text"] == (
        f"Police reply about your tip {ref(tip)}:\nWe are on our way, please stay near the gate."
    )
    assert d.an.full_name not in str(relayed.payload) and "Nguyễn" not in str(relayed.payload)
    reply = await TipMessage.get(tip_id=tip.id, direction=TipMessageDirection.TO_RESIDENT)
    assert reply.author_id == d.an.id

    before = await told(resident)
    [ask_note] = await an.press(f"tk:{tip.id}:note")
    assert "Only officers see it, not the resident." in ask_note.text
    [noted] = await an.send("The owner's neighbour saw a red Wave.")
    assert noted.text == f"Note added to tip {ref(tip)}."
    note = await TipMessage.get(tip_id=tip.id, direction=TipMessageDirection.INTERNAL_NOTE)
    assert note.text == "The owner's neighbour saw a red Wave."
    assert await told(resident) == before  # a note never reaches the resident
    [card] = await an.press(f"tko:{tip.id}")
    assert "• Reply by Nguyễn Văn An, " in card.text
    assert "• Note by Nguyễn Văn An, " in card.text and "red Wave" in card.text

    # Cancel: the next message is not a reply.
    await an.press(f"tk:{tip.id}:reply")
    [cancelled] = await an.press("tk:cancel")
    assert cancelled.text == "Nothing was changed."
    await an.send("this is not for the resident")
    assert await TipMessage.filter(tip_id=tip.id).count() == 3

    # The resident erased themselves: the reply is kept, but nobody can be told.
    await vault.forget_tipster(pagekit.KEYRING, resident)
    await an.press(f"tk:{tip.id}:reply")
    [kept] = await an.send("Did you see the plate?")
    assert kept.text == (
        f"Your reply is kept in tip {ref(tip)}, but the resident can no longer be reached."
    )
    assert await TipMessage.filter(tip_id=tip.id, text="Did you see the plate?").exists()
    assert await told(resident) == before


async def test_resolve_reject_and_duplicate_tell_the_resident(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    an = await linked(d, d.an, settings, "tg-an")
    first = await submit(d.residents[0], d.ea_kar)
    second = await submit(d.residents[1], d.ea_kar, "A man sleeps in the bus stop.")
    third = await submit(d.residents[2], d.ea_kar, "Motorbike stolen at the market!")

    [ask] = await an.press(f"tk:{first.id}:resolve")
    assert "Type the outcome of tip" in ask.text
    [done] = await an.send("The motorbike was found and returned to its owner.")
    assert done.text == f"Tip {ref(first)} is resolved; the resident is told the outcome."
    await first.refresh_from_db()
    assert first.status is TipStatus.RESOLVED
    assert first.outcome == "The motorbike was found and returned to its owner."
    assert (await told(d.residents[0]))[-1] == (
        f"Your tip {ref(first)} is resolved.\n"
        "The officer wrote: The motorbike was found and returned to its owner."
    )
    [closed] = await an.press(f"tk:{first.id}:resolve")
    assert closed.text.startswith(f"Tip {ref(first)} is already closed (Resolved).")

    await an.press(f"tk:{second.id}:reject")
    [rejected] = await an.send("Not a police matter; the commune's social office was told.")
    assert rejected.text.startswith(f"Tip {ref(second)} is closed without action")
    await second.refresh_from_db()
    assert second.status is TipStatus.REJECTED
    assert (await told(d.residents[1]))[-1].startswith(
        f"Your tip {ref(second)} was closed without action.\nThe officer wrote: Not a police"
    )

    [ask_dup] = await an.press(f"tk:{third.id}:dup")
    assert "repeats which earlier tip?" in ask_dup.text
    [unknown] = await an.send("T-AAAAAA")
    assert unknown.text.startswith("There is no tip T-AAAAAA in your area.")
    [itself] = await an.send(ref(third))
    assert itself.text.startswith("A tip cannot be a duplicate of itself.")
    [marked] = await an.send(first.reference.lower())
    assert marked.text == (
        f"Tip {ref(third)} is marked as a duplicate of {ref(first)}; the resident is told."
    )
    await third.refresh_from_db()
    assert third.status is TipStatus.DUPLICATE
    assert third.duplicate_of_id == first.id  # type: ignore[attr-defined]
    assert (await told(d.residents[2]))[-1].startswith(
        f"Your tip {ref(third)} is handled together with an earlier report"
    )


async def test_a_supervisor_acts_on_the_tips_of_the_whole_district(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    supervisor = await linked(d, d.supervisor, settings, "tg-cuong")
    an = await linked(d, d.an, settings, "tg-an")
    ours = await submit(d.residents[0], d.ea_kar)
    theirs = await submit(d.residents[1], d.ea_pal, "Gambling behind the school.")

    [listing] = await supervisor.send("/tips")
    assert listing.text.startswith("Open tips in your area: 2\n")
    assert ref(ours) in listing.text and ref(theirs) in listing.text
    [taken] = await supervisor.press(f"tk:{theirs.id}:take")
    assert taken.text.startswith(f"Tip {ref(theirs)} is yours now")
    await supervisor.press(f"tk:{theirs.id}:resolve")
    await supervisor.send("Players dispersed, equipment seized.")
    await theirs.refresh_from_db()
    assert theirs.status is TipStatus.RESOLVED
    assert theirs.assignee_id == d.supervisor.id  # type: ignore[attr-defined]
    events = await TipEvent.filter(tip_id=theirs.id, kind="status").order_by("id")
    assert [e.actor_id for e in events] == [d.supervisor.id, d.supervisor.id]  # type: ignore[attr-defined]

    # The commune officer never sees the other commune's tip.
    [hidden] = await an.send(f"/viewtip {ref(theirs)}")
    assert hidden.text == NOT_FOUND


# -- rumour checks ---------------------------------------------------------------------------


async def test_a_verdict_answers_the_whole_cluster_and_becomes_a_post(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district(approval=["rumour_check"])
    an = await linked(d, d.an, settings, "tg-an")
    rumour = "Công an phát TIỀN cho dân, bấm vào link này!!"
    asked = await submit(d.residents[0], d.ea_kar, rumour, category="rumour_check")
    forwarded = await submit(
        d.residents[1],
        d.ea_pal,
        "cong an phat tien cho dan bam vao link nay",
        category="rumour_check",
    )
    theft = await submit(d.residents[2], d.ea_kar)

    [not_rumour] = await an.press(f"tkv:{theft.id}:false")
    assert not_rumour.text == "Only a rumour check gets a verdict."

    [too_early] = await an.press(f"tkp:{asked.id}")
    assert too_early.text == "This rumour has no verdict yet."
    [card] = await an.press(f"tko:{asked.id}")
    assert f"tk:{asked.id}:verdict" in card.actions
    [choose] = await an.press(f"tk:{asked.id}:verdict")
    assert choose.actions == [
        f"tkv:{asked.id}:true",
        f"tkv:{asked.id}:false",
        f"tkv:{asked.id}:misleading",
        f"tkv:{asked.id}:unverified",
        "tk:cancel",
    ]
    assert choose.labels[:4] == ["True", "False", "Misleading", "Not verified yet"]
    [explain] = await an.press(f"tkv:{asked.id}:false")
    assert explain.text.startswith("Verdict: False. Type the explanation")
    [given] = await an.send("The police hand out no money. Do not open the link.")
    assert given.text.startswith(
        f"Verdict “False” given on tip {ref(asked)}. Residents answered: 2."
    )
    assert given.actions == [f"tkp:{asked.id}", "tkp:no"]
    for resident, tip in ((d.residents[0], asked), (d.residents[1], forwarded)):
        assert (await told(resident))[-1] == (
            f"About the message you asked us to check ({ref(tip)}): False.\n"
            "The police hand out no money. Do not open the link."
        )
        await tip.refresh_from_db()
        assert tip.status is TipStatus.RESOLVED

    [published] = await an.press(f"tkp:{asked.id}")
    post = await Post.get(category=PostCategory.RUMOUR_CHECK)
    assert post.page_id == d.page.id  # type: ignore[attr-defined]
    assert post.status is PostStatus.PENDING_APPROVAL
    assert published.text == (
        f"Rumour-check post #{post.id} is written on Công an Xã Ea Kar; it waits for a "
        "supervisor's approval."
    )
    [declined] = await an.press("tkp:no")
    assert declined.text == "Not published."
    assert await Post.all().count() == 1
