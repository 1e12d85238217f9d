"""The resident's side of tips, driven through the conversation engine the way the inbox worker
runs it: a full anonymous tip with a photo and a location (and what the officer on duty is
told), the fraud fast path, the offer for a message outside any conversation, choosing the
commune by its name, "my tips" and its status, adding to a tip, a typed number as a button,
cancelling, and "delete me" unlinking the person from their tips."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.context import TortoiseContext

from bots.conversation import BotServices, ConversationEngine
from communepol.app import resident_conversations
from communepol.db.models import (
    AliasVaultEntry,
    AttachmentStatus,
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    DeliveryKind,
    Follow,
    FollowStatus,
    Page,
    Staff,
    Tip,
    TipAttachment,
    TipCategory,
    TipMessage,
    TipMessageDirection,
    Unit,
    UnitLevel,
    Urgency,
)
from communepol.i18n import I18n
from communepol.ports import InboundKind, Location, Media, MediaKind
from communepol.services import duty, officers, tips
from communepol.services import staff as roster
from communepol.services.tips import Tips
from communepol.settings import Settings
from tests import pagekit
from tests.botkit import Chatter, Reply

I18N = I18n.load(default_locale="vi")
NAME = "Trần Thị Hương"  # the resident's display name on the platform


class Resident(Chatter):
    """One resident writing to one bot, each message run as the inbox worker runs it."""

    def __init__(
        self, account: ChannelAccount, settings: Settings | None, user: str = "tg-resident"
    ) -> None:
        services = BotServices(settings=settings, keyring=pagekit.KEYRING) if settings else None
        engine = ConversationEngine(
            resident_conversations(), pagekit.KEYRING, I18N, services=services
        )
        super().__init__(engine, account, user, NAME)

    async def english(self) -> Contact:
        """Start the bot and choose English (the bot carries two pages: nothing is followed)."""
        await self.send("/start")
        await self.press("lang:en")
        return await self.contact()

    async def follows(self, page: Page) -> None:
        await Follow.create(page=page, contact=await self.english(), status=FollowStatus.ACTIVE)

    async def photo(self, ref: str, caption: str | None = None) -> list[Reply]:
        media = (Media(MediaKind.PHOTO, ref, mime_type="image/jpeg", size=48_000),)
        return await self.event(InboundKind.MEDIA, text=caption, media=media)

    async def location(self, latitude: float, longitude: float) -> list[Reply]:
        return await self.event(InboundKind.LOCATION, location=Location(latitude, longitude))


@dataclass
class Commune:
    """Xã Ea Kar and Xã Ea Păl with their pages on one bot, and an officer of Ea Kar linked to
    that bot and on duty."""

    bot: ChannelAccount
    ea_kar: Unit
    ea_pal: Unit
    ea_kar_page: Page
    officer: Staff
    officer_contact: Contact


async def commune(kind: ChannelKind = ChannelKind.TELEGRAM) -> Commune:
    tinh = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=tinh, code="24340")
    ea_pal = await pagekit.unit("Xã Ea Păl", parent=tinh, code="24341")
    bot = await pagekit.account(kind, "province bot")
    ea_kar_page = await pagekit.page(ea_kar, "ca-xa-ea-kar", bot)
    await pagekit.page(ea_pal, "ca-xa-ea-pal", bot)
    officer = await pagekit.staff(ea_kar)
    officer.locale = "en"
    await officer.save(update_fields=["locale"])
    code, _ = await roster.issue_link_code(pagekit.KEYRING, officer)
    await officers.link_identity(pagekit.KEYRING, bot.id, "tg-officer", code)
    officer_contact = await pagekit.contact(bot, "tg-officer", "en")
    assert await duty.duty_on(officer)
    return Commune(bot, ea_kar, ea_pal, ea_kar_page, officer, officer_contact)


async def notifications(to: Contact) -> list[str]:
    rows = await Delivery.filter(kind=DeliveryKind.NOTIFICATION, contact_id=to.id).order_by("id")
    return [str(row.payload["text"]) for row in rows]


async def test_an_anonymous_tip_with_a_photo_and_a_location_reaches_the_officer_on_duty(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune()
    resident = Resident(c.bot, settings)
    await resident.follows(c.ea_kar_page)

    [asked] = await resident.send("/tip")
    assert asked.text == "What is it about?"
    assert "tipc:theft" in asked.actions and "tipc:fraud" in asked.actions
    # They follow one page: its commune is the tip's, and the next question is what happened.
    [text_step] = await resident.press("tipc:theft")
    assert text_step.text.startswith("Write what happened")
    [files_step] = await resident.send("Xe máy của tôi bị lấy trộm ở chợ Ea Kar sáng nay.")
    assert files_step.text.startswith("Send photos, a file or a voice note")
    [received] = await resident.photo("tg-file-1")
    assert received.text.startswith("Received (1)") and received.actions[0] == "tipx:done"
    [place_step] = await resident.press("tipx:done")
    assert place_step.text.startswith("Where did it happen?")
    kept, anonymity = await resident.location(12.81, 108.45)
    assert kept.text == "Location kept."
    assert "only an alias" in anonymity.text and "Telegram itself still knows" in anonymity.text
    assert anonymity.actions[:2] == ["tipx:anon", "tipx:named"]  # anonymous comes first
    [summary] = await resident.press("tipx:anon")
    for line in ("Type: Theft or robbery", "Commune: Xã Ea Kar", "Attachments: 1"):
        assert line in summary.text
    assert "Location: shared" in summary.text and "Sender: anonymous" in summary.text
    assert summary.actions == ["tipx:send", "tipx:cancel"]
    [receipt] = await resident.press("tipx:send")

    tip = await Tip.get()
    assert f"Its number is T-{tip.reference}." in receipt.text
    assert f"Officers see you as “{tip.alias}”" in receipt.text
    assert tip.category is TipCategory.THEFT and tip.unit_id == c.ea_kar.id  # type: ignore[attr-defined]
    assert tip.anonymous and tip.contact_id is None  # type: ignore[attr-defined]
    assert tip.alias and tip.alias.startswith("Người báo tin #")
    assert tip.text == "Xe máy của tôi bị lấy trộm ở chợ Ea Kar sáng nay."
    assert (tip.location_lat, tip.location_lng) == (12.81, 108.45)
    [attachment] = await TipAttachment.filter(tip_id=tip.id)
    assert attachment.status is AttachmentStatus.PENDING and attachment.kind == "photo"

    [card] = await notifications(c.officer_contact)
    assert f"T-{tip.reference}" in card and tip.alias in card
    assert NAME not in card and "tg-resident" not in card
    # The conversation is over: nothing is left in progress.
    [offer] = await resident.send("Cảm ơn")
    assert "tipx:report" in offer.actions


async def test_the_fraud_path_gives_the_first_steps_and_asks_what_the_bank_needs(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune()
    resident = Resident(c.bot, settings)
    await resident.follows(c.ea_kar_page)
    await resident.send("/baotin")
    first_steps, bank = await resident.press("tipc:fraud")
    assert "Call your bank's hotline right away" in first_steps.text
    assert "Do not transfer any more money" in first_steps.text
    assert bank.text.startswith("Which bank or e-wallet")
    assert bank.actions == ["tipx:skip"]
    [amount] = await resident.send("Vietcombank")
    assert amount.text == "How much money was transferred?"
    [transfer_time] = await resident.send("2")  # millions, typed as a number: not a button
    assert transfer_time.text.startswith("When was the money transferred?")
    [accounts] = await resident.press("tipx:skip")  # they do not remember the time
    assert accounts.text.startswith("Which account numbers")
    [text_step] = await resident.send("0123456789 Techcombank, tên NGUYEN VAN B")
    assert text_step.text.startswith("Write what happened")
    [screenshots] = await resident.send("Có người gọi tự xưng công an bảo tôi chuyển tiền.")
    assert screenshots.text.startswith("Send the screenshots of the transfer")
    await resident.photo("tg-screenshot-1")
    await resident.press("tipx:done")
    await resident.press("tipx:skip")  # no place
    [summary] = await resident.press("tipx:named")
    assert "Bank: Vietcombank" in summary.text and "Sender: your name is shown" in summary.text
    [receipt] = await resident.press("tipx:send")
    assert "call your bank's hotline now" in receipt.text

    tip = await Tip.get()
    assert tip.category is TipCategory.FRAUD and tip.urgency is Urgency.CRITICAL
    assert tip.details == {
        "bank": "Vietcombank",
        "amount": "2",
        "accounts": "0123456789 Techcombank, tên NGUYEN VAN B",
    }
    assert not tip.anonymous and tip.contact_id == (await resident.contact()).id  # type: ignore[attr-defined]
    assert await TipAttachment.filter(tip_id=tip.id).count() == 1
    # The name they agreed to show is what the officer sees.
    [card] = await notifications(c.officer_contact)
    assert NAME in card and "Vietcombank" in card


async def test_a_message_outside_any_conversation_is_offered_as_a_tip_and_kept(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune()
    stranger = Resident(c.bot, settings, "tg-stranger")
    [language] = await stranger.send("có trộm")  # no language chosen yet: that comes first
    assert language.actions == ["lang:vi", "lang:en"]

    resident = Resident(c.bot, settings)
    await resident.follows(c.ea_kar_page)
    first = "Có người lạ đi thăm dò các nhà trong thôn 3 ban đêm."
    [offer] = await resident.send(first)
    assert offer.text.startswith("Would you like to send this to the commune police?")
    assert offer.actions == ["tipx:report", "tipx:ask", "tipx:rumour", "menu"]
    [category] = await resident.press("tipx:report")
    assert category.text == "What is it about?"
    [files_step] = await resident.press("tipc:public_order")  # what happened is already known
    assert files_step.text.startswith("Send photos")
    await resident.press("tipx:skip")
    await resident.press("tipx:skip")
    await resident.press("tipx:anon")
    [receipt] = await resident.press("tipx:send")
    tip = await Tip.get()
    assert tip.text == first and tip.category is TipCategory.PUBLIC_ORDER
    assert f"T-{tip.reference}" in receipt.text

    # A picture sent outside a conversation, checked as a rumour: no category, no place asked.
    [offer] = await resident.photo("tg-rumour-picture")
    assert offer.actions == ["tipx:report", "tipx:ask", "tipx:rumour", "menu"]
    [text_step] = await resident.press("tipx:rumour")
    assert text_step.text.startswith("Forward or paste the message")
    assert text_step.actions == ["tipx:skip", "tipx:cancel"]  # the picture can be the whole tip
    [files_step] = await resident.press("tipx:skip")
    assert files_step.actions == ["tipx:done", "tipx:cancel"]
    [anonymity] = await resident.press("tipx:done")
    assert anonymity.text.startswith("Do you want to stay anonymous?")
    await resident.press("tipx:anon")
    await resident.press("tipx:send")
    rumour = await Tip.get(category=TipCategory.RUMOUR_CHECK)
    assert await TipAttachment.filter(tip_id=rumour.id).count() == 1

    # Commands nobody answers are still "not understood".
    unknown = await resident.send("/blah")
    assert unknown[0].text == "Sorry, I did not understand that."


async def test_the_commune_is_typed_when_they_follow_no_page(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune()
    resident = Resident(c.bot, settings)
    await resident.english()  # follows nothing; the bot carries two pages
    await resident.send("/tip")
    [asked] = await resident.press("tipc:traffic")
    assert asked.text == "Which commune or ward is it about? Type its name."
    [none] = await resident.send("Zzyzx")
    assert none.text.startswith("I found no commune or ward called “Zzyzx”")
    [choices] = await resident.send("ea pal")
    assert choices.text == "Which one is it?"
    assert choices.actions[0] == f"tipu:{c.ea_pal.id}"
    assert choices.labels[0] == "Xã Ea Păl · Tỉnh Đắk Lắk"
    [text_step] = await resident.press(f"tipu:{c.ea_pal.id}")
    assert text_step.text.startswith("Write what happened")
    await resident.send("Xe tải chở quá tải chạy qua cầu thôn 2 mỗi đêm.")
    await resident.press("tipx:skip")
    await resident.send("cầu thôn 2")  # the place, typed
    [summary] = await resident.press("tipx:anon")
    assert "Commune: Xã Ea Păl" in summary.text and "Place: cầu thôn 2" in summary.text
    await resident.press("tipx:send")
    tip = await Tip.get()
    assert tip.unit_id == c.ea_pal.id and tip.location_text == "cầu thôn 2"  # type: ignore[attr-defined]
    # Nobody of Ea Păl is linked: the officer of Ea Kar is not told.
    assert await notifications(c.officer_contact) == []

    # Someone following both pages chooses between their communes, or types another.
    both = Resident(c.bot, settings, "tg-both")
    await both.follows(c.ea_kar_page)
    await Follow.create(
        page=await Page.get(slug="ca-xa-ea-pal"),
        contact=await both.contact(),
        status=FollowStatus.ACTIVE,
    )
    await both.send("/tip")
    [which] = await both.press("tipc:traffic")
    assert which.text == "Which commune or ward is it about?"
    ea_kar, ea_pal = f"tipu:{c.ea_kar.id}", f"tipu:{c.ea_pal.id}"
    assert which.actions == [ea_kar, ea_pal, "tipu:other", "tipx:cancel"]
    [typing] = await both.press("tipu:other")
    assert typing.text == "Which commune or ward is it about? Type its name."


async def _send_tip(resident: Resident, text: str) -> list[Reply]:
    """A theft tip written through the bot up to Send (the resident follows one page); the
    replies to Send."""
    await resident.send("/tip")
    await resident.press("tipc:theft")
    await resident.send(text)
    await resident.press("tipx:skip")
    await resident.press("tipx:skip")
    await resident.press("tipx:anon")
    return await resident.press("tipx:send")


async def _tip(resident: Resident, text: str) -> Tip:
    """A theft tip sent through the bot, as stored."""
    await _send_tip(resident, text)
    return await Tip.get(text=text)


async def test_my_tips_shows_the_status_and_an_addition_reaches_the_officer(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune()
    resident = Resident(c.bot, settings)
    await resident.follows(c.ea_kar_page)
    [empty] = await resident.send("/mytips")
    assert empty.text == "You have not sent any tip yet."
    tip = await _tip(resident, "Có người bán ma túy ở quán nước đầu thôn.")
    reference = f"T-{tip.reference}"

    [listing] = await resident.send("tin của tôi")
    assert listing.text.startswith("Your tips:")
    assert f"{reference} · Theft or robbery · New ·" in listing.text
    assert listing.actions[0] == f"tipadd:{tip.reference}"

    await Tips(pagekit.KEYRING).acknowledge(c.officer, tip.id)
    news = await Delivery.filter(contact_id=(await resident.contact()).id).order_by("-id").first()
    assert news is not None
    assert news.payload["text"] == f"Your tip {reference} was received by an officer."
    [listing] = await resident.send("/mytips")
    assert f"{reference} · Theft or robbery · Acknowledged ·" in listing.text

    # "Add information" (the button under the status news and under "my tips").
    [asked] = await resident.press(f"tipadd:{tip.reference}")
    assert asked.text.startswith(f"Write what you want to add to your tip {reference}.")
    [added] = await resident.send("Tối nay họ lại đến, đi xe máy màu đỏ.")
    assert added.text.startswith(f"Added to your tip {reference}.")
    messages = await TipMessage.filter(tip_id=tip.id).order_by("id")
    assert [m.direction for m in messages] == [TipMessageDirection.FROM_RESIDENT] * 2
    assert messages[1].text == "Tối nay họ lại đến, đi xe máy màu đỏ."
    cards = await notifications(c.officer_contact)
    assert len(cards) == 2 and "The resident added to a tip" in cards[1]

    # Someone else cannot add to it, whatever the button says.
    other = Resident(c.bot, settings, "tg-other")
    await other.english()
    [refused] = await other.press(f"tipadd:{tip.reference}")
    assert refused.text.startswith("I could not find this tip among yours.")
    assert await TipMessage.filter(tip_id=tip.id).count() == 2


async def test_typed_numbers_answer_on_a_platform_without_buttons(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune(ChannelKind.ZALO_BOT)
    resident = Resident(c.bot, settings, "zalo-resident")
    await resident.follows(c.ea_kar_page)
    await resident.send("/tip")
    [text_step] = await resident.send("2")  # the second category: drugs
    assert text_step.text.startswith("Write what happened")
    await resident.send("Có người tụ tập sử dụng ma túy ở bãi đất trống.")
    await resident.send("1")  # Skip the files
    await resident.send("1")  # Skip the place
    await resident.send("1")  # Anonymous
    [receipt] = await resident.send("1")  # Send
    tip = await Tip.get()
    assert tip.category is TipCategory.DRUGS and tip.anonymous
    assert f"T-{tip.reference}" in receipt.text


async def test_cancel_sends_nothing(db: TortoiseContext, settings: Settings) -> None:
    c = await commune()
    resident = Resident(c.bot, settings)
    await resident.follows(c.ea_kar_page)
    await resident.send("báo tin")
    await resident.press("tipc:gambling")
    await resident.send("Có sòng bạc ở nhà kho cuối thôn.")
    [cancelled] = await resident.press("tipx:cancel")
    assert cancelled.text == "Cancelled: nothing was sent."
    await resident.send("/tip")
    await resident.press("tipc:other")
    [typed] = await resident.send("hủy")  # typed, in Vietnamese
    assert typed.text == "Cancelled: nothing was sent."
    assert not await Tip.exists()
    assert await notifications(c.officer_contact) == []


async def test_delete_me_unlinks_the_person_from_their_tips(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune()
    resident = Resident(c.bot, settings)
    await resident.follows(c.ea_kar_page)
    tip = await _tip(resident, "Có người cho vay nặng lãi ở chợ.")
    [mine] = await resident.send("my data")
    assert "Tips you sent: 1 (type /mytips)." in mine.text
    [warning] = await resident.send("delete me")
    assert "The tips you sent stay with the police" in warning.text
    await resident.press("erase:yes")
    assert not await AliasVaultEntry.exists()
    await resident.press("lang:en")  # they come back
    [listing] = await resident.send("/mytips")
    assert listing.text == "You have not sent any tip yet."
    [refused] = await resident.press(f"tipadd:{tip.reference}")
    assert refused.text.startswith("I could not find this tip among yours.")
    assert await Tip.exists(id=tip.id)  # the police record stays, linked to nobody


async def test_without_services_tips_are_not_understood(db: TortoiseContext) -> None:
    c = await commune()
    resident = Resident(c.bot, None)
    await resident.english()
    for message in ("/tip", "/mytips", "something happened"):
        replies = await resident.send(message)
        assert replies[0].text == "Sorry, I did not understand that."


async def test_a_flood_of_tips_is_held_and_the_tip_kept_for_later(
    db: TortoiseContext, settings: Settings
) -> None:
    c = await commune()
    resident = Resident(c.bot, settings)
    await resident.follows(c.ea_kar_page)
    for number in range(tips.FLOOD_LIMIT):
        await _tip(resident, f"Tin thứ {number}")
    [held] = await _send_tip(resident, "Một tin nữa")
    assert held.text.startswith("You have sent many tips in the last hour.")
    assert held.actions == ["tipx:send", "tipx:cancel"]  # kept: Send again later
    assert await Tip.all().count() == tips.FLOOD_LIMIT
