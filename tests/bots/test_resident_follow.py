"""The resident's side of information pages, driven through the conversation engine: following
with consent (deep link, the account's only page, the commune's name), declining, silence,
stopping, "my data", "delete me", and reading posts from the menu."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.context import TortoiseContext

from bots.conversation import ConversationEngine
from communepol.app import resident_conversations
from communepol.clock import utcnow
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ConsentRecord,
    ConversationState,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Page,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
    Priority,
    Unit,
)
from communepol.i18n import I18n
from communepol.ports import InboundKind
from communepol.services.follows import CONSENT_TEXT_VERSION
from communepol.text import fold
from tests import pagekit
from tests.botkit import Chatter

I18N = I18n.load(default_locale="vi")
BASE_URL = "https://cong-an.example"


class Resident(Chatter):
    """One resident writing to one channel account, the way the inbox worker runs each event."""

    def __init__(self, account: ChannelAccount, user: str = "resident-1") -> None:
        engine = ConversationEngine(
            resident_conversations(), pagekit.KEYRING, I18N, base_url=BASE_URL
        )
        super().__init__(engine, account, user, "Hương")


async def commune(name: str) -> Unit:
    """A commune stored as the unit import stores it: ``name_folded`` without the kind word."""
    unit = await pagekit.unit(name)
    unit.name_folded = fold(name.partition(" ")[2])
    await unit.save(update_fields=["name_folded"])
    return unit


@dataclass
class Province:
    """A province's Telegram bot carrying three communes' pages; one Zalo OA of Ea Kar."""

    bot: ChannelAccount
    oa: ChannelAccount
    ea_kar: Page
    ea_kao: Page
    cu_mgar: Page


async def province() -> Province:
    bot = await pagekit.account(ChannelKind.TELEGRAM, "province bot")
    oa = await pagekit.account(ChannelKind.ZALO_OA, "OA Ea Kar")
    ea_kar = await pagekit.page(await commune("Xã Ea Kar"), "ca-xa-ea-kar", bot, oa)
    ea_kao = await pagekit.page(await commune("Xã Ea Kao"), "ca-xa-ea-kao", bot)
    cu_mgar = await pagekit.page(await commune("Xã Cư M'gar"), "ca-xa-cu-mgar", bot)
    return Province(bot, oa, ea_kar, ea_kao, cu_mgar)


async def _follow_status(resident: Resident, page: Page) -> FollowStatus | None:
    contact = await resident.contact()
    follow = await Follow.get_or_none(contact_id=contact.id, page_id=page.id)
    return follow.status if follow else None


async def _following(resident: Resident, *pages: Page) -> None:
    """Follow ``pages`` through the bot (English), agreeing on each consent screen."""
    for page in pages:
        await resident.send(f"/start p{page.id}")
        if not (await resident.contact()).locale:
            await resident.press("lang:en")
        await resident.press(f"consent:{page.id}:yes")
        assert await _follow_status(resident, page) is FollowStatus.ACTIVE


async def test_a_deep_link_asks_the_language_then_consent_and_only_agree_activates(
    db: TortoiseContext,
) -> None:
    p = await province()
    resident = Resident(p.bot)
    [greeting] = await resident.send(f"/start p{p.ea_kar.id}")
    assert "Bạn muốn dùng ngôn ngữ nào?" in greeting.text
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.PENDING_CONSENT

    replies = await resident.send("2")  # English, by its number
    assert replies[0].text == "Language set: English."
    screen = replies[-1]
    assert "Công an Xã Ea Kar" in screen.text
    for promise in ("Telegram account id", "sealed", "your language", "when you agreed"):
        assert promise in screen.text
    for way_out in ("“stop”", "“my data”", "“delete me”"):
        assert way_out in screen.text
    assert screen.actions == [f"consent:{p.ea_kar.id}:yes", f"consent:{p.ea_kar.id}:no"]
    assert screen.labels == ["Agree", "Decline"]
    assert not await ConsentRecord.exists()

    [done] = await resident.send("1")  # Agree, typed as its number
    assert "you now follow Công an Xã Ea Kar" in done.text
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.ACTIVE
    follow = await Follow.get(page_id=p.ea_kar.id)
    assert follow.source == "link"
    [record] = await ConsentRecord.all()
    assert record.granted and record.text_version == CONSENT_TEXT_VERSION
    assert record.locale == "en" and record.purpose == "follow"

    [again] = await resident.press(f"consent:{p.ea_kar.id}:yes")  # a double tap
    assert "You already follow Công an Xã Ea Kar." in again.text
    assert await ConsentRecord.all().count() == 1


async def test_declining_stops_the_follow_and_records_no_agreement(db: TortoiseContext) -> None:
    p = await province()
    resident = Resident(p.bot)
    await resident.send(f"/start p{p.cu_mgar.id}")
    await resident.press("lang:en")
    [declined] = await resident.send("Decline")  # the label, typed
    assert "nothing from Công an Xã Cư M'gar will be sent to you" in declined.text
    assert await _follow_status(resident, p.cu_mgar) is FollowStatus.STOPPED
    assert not await ConsentRecord.filter(granted=True).exists()
    assert await ConsentRecord.filter(granted=False, text_version=CONSENT_TEXT_VERSION).count() == 1


async def test_silence_or_anything_else_leaves_the_follow_pending(db: TortoiseContext) -> None:
    p = await province()
    resident = Resident(p.bot)
    await _following(resident)  # nothing yet
    await resident.send(f"/start p{p.ea_kar.id}")
    await resident.press("lang:en")
    for answer in ("yes", "ok thanks", "/help", "3"):
        await resident.send(answer)
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.PENDING_CONSENT
    assert not await ConsentRecord.exists()
    # The consent screen's buttons were replaced by the help menu: "1" now means its first entry.
    await resident.send("1")
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.PENDING_CONSENT


async def test_a_page_of_another_account_or_an_unknown_one_is_refused(db: TortoiseContext) -> None:
    p = await province()
    other = await pagekit.page(await commune("Xã Hòa Phú"), "ca-xa-hoa-phu")
    resident = Resident(p.bot)
    await resident.send("/start")
    await resident.press("lang:en")
    for attempt in (f"/start p{other.id}", "/start p99999999"):
        [refused] = await resident.send(attempt)
        assert refused.text == "This page is not available here."
    [refused] = await resident.press(f"consent:{other.id}:yes")
    assert refused.text == "This page is not available here."
    assert not await Follow.exists()
    [plain] = (await resident.send("/start ca-xa-ea-kar"))[-1:]  # not a follow payload
    assert "You can write to us here at any time." in plain.text


async def test_following_by_typing_the_commune_name(db: TortoiseContext) -> None:
    p = await province()
    resident = Resident(p.bot)
    replies = await resident.send("theo dõi")  # no language yet: asked first, then the name
    assert "Bạn muốn dùng ngôn ngữ nào?" in replies[-1].text
    replies = await resident.press("lang:en")
    assert replies[-1].text == "Type the name of your commune or ward."
    assert replies[-1].actions == ["cancel"]

    [choose] = await resident.send("ea kra")  # a typo: Ea Kar first, Ea Kao one typo away
    assert choose.actions == [f"follow:{p.ea_kar.id}", f"follow:{p.ea_kao.id}", "cancel"]
    [screen] = await resident.send("1")
    assert screen.actions[0] == f"consent:{p.ea_kar.id}:yes"
    await resident.press(screen.actions[0])
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.ACTIVE

    await resident.send("/follow")
    [nothing] = await resident.send("Hà Nội")
    assert "I found no commune page called “Hà Nội”" in nothing.text
    [screen] = await resident.send("Cư Mgar")  # still asked: diacritics and apostrophe aside
    assert screen.actions[0] == f"consent:{p.cu_mgar.id}:yes"

    await resident.send("/theodoi ea kar")  # the exact name: no need to choose
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.ACTIVE
    [screen] = await resident.send("/theodoi Ea Kao")
    assert screen.actions[0] == f"consent:{p.ea_kao.id}:yes"

    await resident.send("follow")
    [cancelled] = await resident.send("hủy")
    assert cancelled.text == "Cancelled."
    assert not await ConversationState.filter(flow="follow").exists()


async def test_a_zalo_oa_follow_goes_to_its_only_page_and_an_unfollow_stops_it(
    db: TortoiseContext,
) -> None:
    p = await province()
    resident = Resident(p.oa)
    [greeting] = await resident.event(InboundKind.FOLLOW)
    assert "Bạn muốn dùng ngôn ngữ nào?" in greeting.text
    replies = await resident.press("lang:en")
    assert replies[-1].actions == [f"consent:{p.ea_kar.id}:yes", f"consent:{p.ea_kar.id}:no"]
    await resident.press(replies[-1].actions[0])
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.ACTIVE
    assert (await Follow.get()).source == "platform"

    assert await resident.event(InboundKind.UNFOLLOW) == []  # nothing can be said to them
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.STOPPED
    [screen] = await resident.send("/start")  # the OA's only page again: consent again
    assert screen.actions[0] == f"consent:{p.ea_kar.id}:yes"


async def _waiting_broadcast(resident: Resident, n: int) -> Delivery:
    return await Delivery.create(
        channel_account_id=resident.account.id,
        contact=await resident.contact(),
        kind=DeliveryKind.BROADCAST,
        priority=Priority.BROADCAST,
        dedup_key=f"test-broadcast-{n}",
        payload={"text": "Cảnh báo"},
        not_before=utcnow(),
    )


async def test_stop_stops_every_page_and_cancels_what_waits(db: TortoiseContext) -> None:
    p = await province()
    resident = Resident(p.bot)
    await _following(resident, p.ea_kar, p.cu_mgar)
    waiting = [await _waiting_broadcast(resident, n) for n in range(2)]

    not_a_stop = await resident.send("Đúng")  # folds like "dừng": not a request to stop
    assert not_a_stop[0].text == "Sorry, I did not understand that."
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.ACTIVE

    [stopped] = await resident.send("DỪNG")
    assert "• Công an Xã Ea Kar" in stopped.text and "• Công an Xã Cư M'gar" in stopped.text
    for page in (p.ea_kar, p.cu_mgar):
        assert await _follow_status(resident, page) is FollowStatus.STOPPED
    for row in waiting:
        await row.refresh_from_db()
        assert row.status is DeliveryStatus.CANCELLED
    [nothing] = await resident.send("/stop")
    assert nothing.text == "You are not following any page."


async def test_my_pages_stops_one_page(db: TortoiseContext) -> None:
    p = await province()
    resident = Resident(p.bot)
    await _following(resident, p.ea_kar, p.cu_mgar)
    [listed] = await resident.send("my pages")
    assert f"unfollow:{p.ea_kar.id}" in listed.actions
    assert f"unfollow:{p.cu_mgar.id}" in listed.actions
    [stopped] = await resident.press(f"unfollow:{p.cu_mgar.id}")
    assert stopped.text == "Stopped: nothing more will be sent to you from Công an Xã Cư M'gar."
    assert await _follow_status(resident, p.cu_mgar) is FollowStatus.STOPPED
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.ACTIVE
    [listed] = await resident.send("/unfollow")
    assert f"unfollow:{p.cu_mgar.id}" not in listed.actions


async def test_my_data_shows_what_is_held(db: TortoiseContext) -> None:
    p = await province()
    resident = Resident(p.bot)
    await _following(resident, p.ea_kar)
    await resident.send(f"/start p{p.cu_mgar.id}")  # left pending
    [shown] = await resident.send("/mydata")
    text = shown.text
    assert "• Channel: Telegram" in text
    assert "• Language: English" in text
    assert "• Công an Xã Ea Kar: following since " in text
    assert "• Công an Xã Cư M'gar: waiting for your answer to the consent screen" in text
    assert f": agreed (text {CONSENT_TEXT_VERSION})" in text
    assert "Messages to you: " in text
    assert shown.actions == ["deleteme", "menu"]
    year = str(utcnow().year)
    assert year in text  # dates are shown, formatted


async def test_delete_me_erases_and_the_confirmation_is_still_sent(db: TortoiseContext) -> None:
    p = await province()
    resident = Resident(p.bot)
    await _following(resident, p.ea_kar)
    await _waiting_broadcast(resident, 1)

    [question] = await resident.send("xóa dữ liệu")
    assert question.actions == ["erase:yes", "erase:no"]
    [kept] = await resident.send("2")
    assert kept.text == "Nothing was deleted."
    assert await Follow.exists()

    await resident.press("erase:yes")  # a stale button: asked again, nothing erased
    assert await Follow.exists()
    [done] = await resident.send("1")
    assert done.text.startswith("Done: everything we kept about you has been deleted.")
    assert done.actions == []
    contact = await resident.contact()
    assert contact.erased_at is not None and contact.locale is None
    assert not await Follow.exists() and not await ConsentRecord.exists()
    assert not await ConversationState.exists()
    [confirmation] = await Delivery.filter(contact_id=contact.id)  # only the confirmation
    assert confirmation.kind is DeliveryKind.REPLY
    assert confirmation.status is DeliveryStatus.PENDING

    [greeting] = await resident.send("hello")  # they come back: a returning person
    assert "Bạn muốn dùng ngôn ngữ nào?" in greeting.text
    assert (await resident.contact()).erased_at is None


async def _post(
    page: Page,
    category: PostCategory,
    title: str,
    body: str,
    *,
    age: timedelta,
    status: PostStatus = PostStatus.PUBLISHED,
    expires_in: timedelta | None = None,
) -> Post:
    now = utcnow()
    post = await Post.create(
        page=page,
        category=category,
        status=status,
        published_at=now - age,
        expires_at=now + expires_in if expires_in is not None else None,
    )
    await PostTranslation.create(post=post, locale="vi", title=title, body=body)
    return post


async def test_the_menu_reads_posts_by_category_and_the_procedures(db: TortoiseContext) -> None:
    p = await province()
    old = await _post(
        p.ea_kar, PostCategory.FRAUD_WARNING, "Lừa đảo cũ", "Cũ.", age=timedelta(days=3)
    )
    long_body = "Cảnh giác với cuộc gọi giả danh công an. " * 20
    new = await _post(
        p.ea_kar, PostCategory.FRAUD_WARNING, "Lừa đảo mới", long_body, age=timedelta(hours=1)
    )
    await _post(
        p.ea_kar,
        PostCategory.FRAUD_WARNING,
        "Hết hạn",
        "x",
        age=timedelta(hours=2),
        expires_in=timedelta(hours=-1),
    )
    await _post(
        p.ea_kar, PostCategory.HEALTH, "Nháp", "x", age=timedelta(0), status=PostStatus.DRAFT
    )
    procedure = await _post(
        p.cu_mgar, PostCategory.PROCEDURE, "Đăng ký thường trú", "Hồ sơ…", age=timedelta(days=1)
    )
    resident = Resident(p.bot)
    await resident.send("/start")
    await resident.press("lang:en")

    [menu] = await resident.send("menu")
    assert menu.actions == [
        "posts",
        "procedures",
        "mypages",
        "follow",
        "language",
        "help",
        "tip",
        "mytips",
    ]
    [categories] = await resident.send("1")  # Posts: they follow nothing, so every page's
    assert categories.actions == ["posts:procedure", "posts:fraud_warning", "menu"]
    assert categories.labels[:2] == ["Administrative procedure", "Fraud warning"]
    [listing] = await resident.send("2")
    assert listing.text.startswith("Fraud warning\n\nLừa đảo mới\n")
    assert listing.text.index("Lừa đảo mới") < listing.text.index("Lừa đảo cũ")
    assert "Hết hạn" not in listing.text
    assert f"{BASE_URL}/p/ca-xa-ea-kar#post-{new.id}" in listing.text
    assert f"{BASE_URL}/p/ca-xa-ea-kar#post-{old.id}" in listing.text
    excerpt = listing.text.split("\n")[4]
    assert excerpt.endswith("…") and len(excerpt) <= 301

    [procedures] = await resident.send("/thutuc")
    assert "Đăng ký thường trú" in procedures.text
    assert f"{BASE_URL}/p/ca-xa-cu-mgar#post-{procedure.id}" in procedures.text

    await _following(resident, p.cu_mgar)  # now only the page they follow
    [categories] = await resident.press("posts")
    assert categories.actions == ["posts:procedure", "menu"]


async def test_the_consent_screen_and_commands_in_vietnamese(db: TortoiseContext) -> None:
    """Needs the Vietnamese translations of this feature's messages (locales/vi)."""
    p = await province()
    resident = Resident(p.bot)
    await resident.send(f"/start p{p.ea_kar.id}")
    replies = await resident.press("lang:vi")
    screen = replies[-1]
    assert screen.labels == ["Đồng ý", "Không đồng ý"]
    assert "“dừng”" in screen.text and "“xóa dữ liệu”" in screen.text
    await resident.send("đồng ý")
    assert await _follow_status(resident, p.ea_kar) is FollowStatus.ACTIVE
    [stopped] = await resident.send("dừng")
    assert stopped.text.startswith("Đã dừng.")


async def test_the_web_chat_follow_is_recorded_as_from_the_web(db: TortoiseContext) -> None:
    chat = await pagekit.account(ChannelKind.WEBCHAT)
    page = await pagekit.page(await commune("Xã Ea Kar"), "ca-xa-ea-kar", chat)
    resident = Resident(chat)
    await resident.send(f"/start p{page.id}")
    replies = await resident.press("lang:en")
    await resident.press(replies[-1].actions[0])
    follow = await Follow.get()
    assert follow.status is FollowStatus.ACTIVE and follow.source == "web"
