"""The officer's side of information pages, driven through the conversation engine the way the
inbox worker runs it: linking a bot identity with a one-time code, writing a post (published
by the ticker to the page's followers), approval by a supervisor, alerts for one commune and
across two (the second person approves by bot), ending an alert, figures, and the commands
staying invisible to everyone else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.context import TortoiseContext

from bots.conversation import BotServices, ConversationEngine, Router
from bots.officer import router as officer_router
from bots.officer.common import parse_moment
from communepol.app import resident_conversations
from communepol.clock import utcnow
from communepol.db.models import (
    Alert,
    AlertStatus,
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Delivery,
    DeliveryKind,
    Page,
    Post,
    PostStatus,
    Role,
    ScheduleKind,
    Staff,
    StaffIdentity,
    Unit,
    UnitLevel,
)
from communepol.i18n import I18n
from communepol.services import staff as roster
from communepol.services.posts import Publisher
from communepol.settings import Settings
from tests import pagekit
from tests.botkit import Chatter

I18N = I18n.load(default_locale="vi")


def conversations() -> Router:
    """The app's router with the officer commands (what ``resident_conversations`` becomes)."""
    router = resident_conversations()
    router.include(officer_router)
    return router


class Person(Chatter):
    """Someone writing to one bot, each message run as the inbox worker runs a stored event."""

    def __init__(self, account: ChannelAccount, settings: Settings, user: str) -> None:
        services = BotServices(settings=settings, keyring=pagekit.KEYRING)
        engine = ConversationEngine(
            conversations(), pagekit.KEYRING, I18N, base_url="https://ca.example", services=services
        )
        super().__init__(engine, account, user, "An")

    async def english(self) -> None:
        await self.send("/start")
        await self.press("lang:en")


@dataclass
class Province:
    """A province's Telegram bot carrying two communes' pages, each with followers; an officer
    of Ea Kar and two supervisors of the province."""

    bot: ChannelAccount
    ea_kar: Page
    ea_pal: Page
    officer: Staff
    supervisor: Staff
    second_supervisor: Staff


async def province(*, approval: list[str] | None = None) -> Province:
    tinh = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    ea_kar_unit = await pagekit.unit("Xã Ea Kar", parent=tinh, code="24340")
    ea_pal_unit = await pagekit.unit("Xã Ea Păl", parent=tinh, code="24341")
    bot = await pagekit.account(ChannelKind.TELEGRAM, "province bot")
    ea_kar = await pagekit.page(ea_kar_unit, "ca-xa-ea-kar", bot, approval=approval)
    ea_pal = await pagekit.page(ea_pal_unit, "ca-xa-ea-pal", bot)
    await pagekit.followers(ea_kar, bot, 3, prefix="kar")
    await pagekit.followers(ea_pal, bot, 2, prefix="pal")
    return Province(
        bot,
        ea_kar,
        ea_pal,
        await pagekit.staff(ea_kar_unit),
        await pagekit.staff(tinh, Role.SUPERVISOR, name="Lê Văn Cường"),
        await pagekit.staff(tinh, Role.SUPERVISOR, name="Phạm Thị Dung"),
    )


async def linked(p: Province, who: Staff, settings: Settings, user: str) -> Person:
    person = Person(p.bot, settings, user)
    await person.english()
    code, _ = await roster.issue_link_code(pagekit.KEYRING, who)
    [reply] = await person.send(f"/link {code}")
    assert reply.text.startswith(f"Linked: here you act as {who.full_name}")
    return person


async def _deliveries(kind: DeliveryKind) -> set[int]:
    rows = await Delivery.filter(kind=kind).values_list("contact_id", flat=True)
    return {int(row) for row in rows if row is not None}  # type: ignore[call-overload]


async def _follower_ids(*pages: Page) -> set[int]:
    ids: set[int] = set()
    for page in pages:
        rows = await page.follows.all().values_list("contact_id", flat=True)  # type: ignore[attr-defined]
        ids |= {int(row) for row in rows}
    return ids


# -- linking ---------------------------------------------------------------------------------


async def test_a_link_code_links_once_and_every_bad_code_gets_one_answer(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province()
    stranger = Person(p.bot, settings, "tg-stranger")
    await stranger.english()
    not_understood = [r.text for r in await stranger.send("/blah")]
    assert not_understood[0] == "Sorry, I did not understand that."
    # Unlinked, the officer commands do not exist: the very same answer as nonsense.
    for command in ("/post", "/dangtin", "/alert", "/approve", "/stats", "/found 1", "/unlink"):
        assert [r.text for r in await stranger.send(command)] == not_understood
    # "liên kết" followed by something that is not a code is a resident's message.
    assert [r.text for r in await stranger.send("liên kết ngân hàng lạ")] == not_understood

    code, _ = await roster.issue_link_code(pagekit.KEYRING, p.officer)
    expired, _ = await roster.issue_link_code(
        pagekit.KEYRING, p.officer, now=utcnow() - timedelta(days=4)
    )
    officer = Person(p.bot, settings, "tg-officer")
    await officer.english()
    [done] = await officer.send(f"/link {code.lower().replace('-', ' ')}")  # as typed by phone
    assert done.text.startswith("Linked: here you act as Nguyễn Văn An, Officer of Xã Ea Kar.")
    identity = await StaffIdentity.get()
    assert identity.staff_id == p.officer.id  # type: ignore[attr-defined]
    assert identity.identity_hash == (await officer.contact()).identity_hash
    assert "tg-officer" not in identity.identity_sealed
    event = await AuditEvent.get(action="staff.identity_linked")
    assert event.actor_staff_id == p.officer.id
    assert "tg-officer" not in str(event.data)

    refused = "This code is wrong, already used or expired."
    for attempt in (f"/link {code}", f"/link {expired}", "/link ABCD-EFGH"):
        [answer] = await stranger.send(attempt)
        assert answer.text.startswith(refused)
    assert await StaffIdentity.all().count() == 1

    # Typed in Vietnamese words, a code of another staff member moves this identity to them.
    second, _ = await roster.issue_link_code(pagekit.KEYRING, p.supervisor)
    [moved] = await officer.send(f"liên kết {second}")
    assert moved.text.startswith("Linked: here you act as Lê Văn Cường, Supervisor")
    assert await StaffIdentity.all().count() == 1
    assert (await StaffIdentity.get()).staff_id == p.supervisor.id  # type: ignore[attr-defined]

    [gone] = await officer.send("/unlink")
    assert gone.text.startswith("Unlinked")
    assert [r.text for r in await officer.send("/post")] == not_understood


async def test_a_deactivated_officer_is_nobody_to_the_bot(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province()
    officer = await linked(p, p.officer, settings, "tg-officer")
    [asked] = await officer.send("/post")
    assert "Which category?" in asked.text
    await Staff.filter(id=p.officer.id).update(active=False)
    replies = await officer.press("op:cat:health")
    assert replies[0].text == "Sorry, I did not understand that."


# -- posts -----------------------------------------------------------------------------------


async def test_an_officer_writes_a_post_and_the_followers_receive_it(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province()
    officer = await linked(p, p.officer, settings, "tg-officer")

    [category] = await officer.send("/dangtin")  # one page: straight to the category
    assert "Post on Công an Xã Ea Kar. Which category?" in category.text
    assert len(category.actions) == 9  # eight categories and Cancel
    assert "op:cat:announcement" in category.actions
    assert all(len(action.encode()) <= 64 for action in category.actions)
    [title] = await officer.press("op:cat:announcement")
    assert "Type the title" in title.text
    [body] = await officer.send("Lịch tiếp dân tháng 12")
    assert "type the text" in body.text
    [photo] = await officer.send("Công an xã tiếp dân vào thứ Hai hằng tuần, từ 7:30 đến 11:00.")
    assert photo.actions == ["op:nophoto", "op:cancel"]
    [schedule] = await officer.send("1")  # "No photo", by its number
    assert schedule.actions[:2] == ["op:when:now", "op:when:at"]
    [summary] = await officer.press("op:when:now")
    for shown in ("Page: Công an Xã Ea Kar", "Title: Lịch tiếp dân tháng 12", "When: Now"):
        assert shown in summary.text
    assert summary.actions == ["op:confirm", "op:cancel", "op:reach"]
    assert "Every household must hear it: no" in summary.text
    [marked] = await officer.press("op:reach")
    assert "Every household must hear it: yes" in marked.text
    assert marked.labels[2] == "Not every household"
    assert not await Post.exists()

    [outcome] = await officer.send("Confirm")  # the button's label, typed
    post = await Post.get()
    assert outcome.text.startswith(f"Post #{post.id} is being published")
    assert post.status is PostStatus.SCHEDULED
    assert post.author_id == p.officer.id  # type: ignore[attr-defined]
    assert post.must_reach_every_household  # shared accounts will be asked to tell each one
    assert await AuditEvent.filter(action="post.submitted", source="bot").exists()
    [stale] = await officer.press("op:confirm")  # pressed twice: nothing more happens
    assert "no longer being written" in stale.text
    assert await Post.all().count() == 1

    await Publisher(settings, I18N).publish_due(utcnow() + timedelta(seconds=5))
    assert await _deliveries(DeliveryKind.BROADCAST) == await _follower_ids(p.ea_kar)

    [figures] = await officer.send("/stats")
    assert f"Post #{post.id}: Lịch tiếp dân tháng 12" in figures.text
    assert "\nPublished " in figures.text
    assert "queued 3 · sent 0" in figures.text


async def test_a_post_at_a_typed_time_or_a_weekly_preset_is_scheduled(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province()
    officer = await linked(p, p.officer, settings, "tg-officer")
    local = (utcnow() + timedelta(days=2)).astimezone(settings.tz)
    typed = f"{local:%d/%m/%Y} 07:30"

    async def up_to_when(title: str) -> None:
        await officer.send("/post")
        await officer.press("op:cat:health")
        await officer.send(title)
        await officer.send("Tiêm phòng dại cho chó mèo tại nhà văn hoá thôn.")
        await officer.press("op:nophoto")

    await up_to_when("Tiêm phòng dại")
    [unreadable] = await officer.send("thứ hai tuần sau")
    assert "I could not read that time" in unreadable.text
    [past] = await officer.send("01/01/2020 07:30")
    assert "That time has passed" in past.text
    [summary] = await officer.send(typed)
    assert f"When: {local.day} {local:%b} {local.year}, 07:30" in summary.text
    [outcome] = await officer.press("op:confirm")
    post = await Post.get(category="health", schedule_kind=ScheduleKind.ONCE)
    assert outcome.text.startswith(f"Post #{post.id} is scheduled for")
    assert post.next_run_at is not None
    assert post.next_run_at.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M") == typed

    await up_to_when("Họp dân hằng tuần")
    await officer.press("op:when:weekly")
    [outcome] = await officer.press("op:confirm")
    weekly = await Post.get(schedule_kind=ScheduleKind.CRON)
    assert weekly.cron_expression == "0 7 * * mon"
    assert "Every Monday at 07:00" in outcome.text
    assert weekly.next_run_at is not None
    assert weekly.next_run_at.astimezone(settings.tz).strftime("%a %H:%M") == "Mon 07:00"


def test_dates_are_read_as_vietnam_time(settings: Settings) -> None:
    tz = settings.tz
    first = parse_moment("25/12/2026 07:30", tz)
    assert first is not None and first.isoformat() == "2026-12-25T00:30:00+00:00"
    assert parse_moment("7h30 ngày 25/12/2026", tz) == first
    assert parse_moment("lúc 07:30, 25-12-2026", tz) == first
    assert parse_moment("31/02/2026 07:30", tz) is None
    assert parse_moment("07:30", tz) is None
    assert parse_moment("07:30", tz, today_allowed=True) is not None
    assert parse_moment("25/12/2026", tz) is None


async def test_a_post_needing_approval_waits_until_a_supervisor_approves_it_by_bot(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province(approval=["fraud_warning"])
    officer = await linked(p, p.officer, settings, "tg-officer")
    supervisor = await linked(p, p.supervisor, settings, "tg-supervisor")

    async def write(title: str) -> Post:
        await officer.send("/post")
        await officer.press("op:cat:fraud_warning")
        await officer.send(title)
        await officer.send("Không chuyển tiền cho người lạ tự xưng công an qua điện thoại.")
        await officer.press("op:nophoto")
        await officer.press("op:when:now")
        [outcome] = await officer.press("op:confirm")
        post = await Post.filter(status=PostStatus.PENDING_APPROVAL).order_by("-id").first()
        assert post is not None
        assert outcome.text == (f"Post #{post.id} is saved and waits for a supervisor's approval.")
        return post

    first = await write("Cảnh giác cuộc gọi giả danh công an")
    second = await write("Lừa đảo việc làm online")
    await Publisher(settings, I18N).publish_due(utcnow() + timedelta(seconds=5))
    assert not await Delivery.filter(kind=DeliveryKind.BROADCAST).exists()

    [refused] = await officer.send("/approve")
    assert refused.text == "Only supervisors and administrators approve posts and alerts."

    [listing] = await supervisor.send("/duyet")
    assert listing.text.startswith("Waiting for your approval:")
    assert f"Post #{first.id} · Fraud warning · Công an Xã Ea Kar" in listing.text
    assert "“Cảnh giác cuộc gọi giả danh công an”, by Nguyễn Văn An" in listing.text
    assert listing.actions == [
        f"ov:p:{first.id}:y",
        f"ov:p:{first.id}:n",
        f"ov:p:{second.id}:y",
        f"ov:p:{second.id}:n",
    ]
    [approved] = await supervisor.press(f"ov:p:{first.id}:y")
    assert approved.text == f"Post #{first.id} approved: it is being published."
    first = await Post.get(id=first.id)
    assert first.status is PostStatus.SCHEDULED
    assert first.approved_by_id == p.supervisor.id  # type: ignore[attr-defined]

    [why] = await supervisor.press(f"ov:p:{second.id}:n")
    assert f"Why is post #{second.id} sent back?" in why.text
    [rejected] = await supervisor.send("Thiếu số điện thoại đường dây nóng.")
    assert rejected.text == f"Post #{second.id} was sent back to its author as a draft."
    assert (await Post.get(id=second.id)).status is PostStatus.DRAFT

    await Publisher(settings, I18N).publish_due(utcnow() + timedelta(seconds=5))
    assert await _deliveries(DeliveryKind.BROADCAST) == await _follower_ids(p.ea_kar)
    [nothing] = await supervisor.send("/approve")
    assert nothing.text == "Nothing is waiting for your approval."

    # A supervisor chooses among the pages of their province (by button or by name) and needs
    # nobody's approval.
    [pages] = await supervisor.send("/post")
    assert pages.actions == [f"op:page:{p.ea_kar.id}", f"op:page:{p.ea_pal.id}", "op:cancel"]
    [category] = await supervisor.send("ea pal")
    assert "Post on Công an Xã Ea Păl." in category.text
    await supervisor.press("op:cat:fraud_warning")
    await supervisor.send("Cảnh báo lừa đảo đầu tư tiền ảo")
    await supervisor.send("Không tham gia các nhóm đầu tư hứa lãi cao.")
    await supervisor.press("op:nophoto")
    await supervisor.press("op:when:now")
    [outcome] = await supervisor.press("op:confirm")
    assert "is being published" in outcome.text


# -- alerts ----------------------------------------------------------------------------------


async def test_an_officers_alert_for_their_commune_goes_out_and_ends(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province()
    officer = await linked(p, p.officer, settings, "tg-officer")

    [kinds] = await officer.send("/canhbao")
    assert kinds.actions == [
        "oa:cat:missing_person",
        "oa:cat:fraud_warning",
        "oa:cat:crime_warning",
        "oa:cat:announcement",
        "oa:cancel",
    ]
    await officer.press("oa:cat:fraud_warning")
    await officer.send("Cảnh báo lừa đảo mua bán sầu riêng")
    [phone] = await officer.send("Đối tượng nhận đặt cọc rồi cắt liên lạc.")
    assert phone.text == "Which phone number should people call?"  # no person's details asked
    [again] = await officer.send("12345")
    assert again.text.startswith("I could not read that.")
    [summary] = await officer.send("0912 345 678")
    assert "Call: +84912345678" in summary.text
    assert "Reaches: All pages of Xã Ea Kar" in summary.text
    [sent] = await officer.press("oa:confirm")
    alert = await Alert.get()
    assert sent.text.startswith(f"Alert #{alert.id} is going out to 1 pages.")
    assert sent.actions == [f"oe:{alert.id}"]
    assert alert.status is AlertStatus.ACTIVE
    assert await _deliveries(DeliveryKind.ALERT) == await _follower_ids(p.ea_kar)

    [note] = await officer.press(f"oe:{alert.id}")
    assert f"Ending alert #{alert.id}" in note.text
    [ended] = await officer.send("Đã bắt được đối tượng. Cảm ơn bà con.")
    assert ended.text == f"Alert #{alert.id} has ended: everyone it reached is told."
    assert (await Alert.get(id=alert.id)).status is AlertStatus.CLOSED
    [none] = await officer.send("/found")
    assert none.text == "No alert in your area is active."


async def test_an_alert_across_two_communes_waits_for_a_second_person_who_approves_by_bot(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province()
    supervisor = await linked(p, p.supervisor, settings, "tg-supervisor")
    second = await linked(p, p.second_supervisor, settings, "tg-second")

    await supervisor.send("/alert")
    await supervisor.press("oa:cat:missing_person")
    await supervisor.send("Tìm trẻ mất tích: cháu Y Nhi, 7 tuổi")
    [name] = await supervisor.send("Cháu mặc áo đỏ, quần xanh.")
    assert name.text == "The missing person's name?"
    [place] = await supervisor.send("Y Nhi")
    assert place.text == "Where were they last seen?"
    await supervisor.press("oa:skip:place")
    [photo] = await supervisor.send("17:30")
    assert photo.actions == ["oa:skip:photo", "oa:cancel"]
    [phone] = await supervisor.press("oa:skip:photo")
    assert phone.actions == ["oa:skip:phone", "oa:cancel"]
    [targets] = await supervisor.press("oa:skip:phone")
    assert targets.actions[0] == "oa:to:all"
    assert f"oa:to:{p.ea_kar.id}" in targets.actions
    [summary] = await supervisor.press("oa:to:all")
    assert "Name: Y Nhi" in summary.text
    assert "Photo: none" in summary.text
    assert "Reaches: All pages of Tỉnh Đắk Lắk" in summary.text
    [waiting] = await supervisor.press("oa:confirm")
    alert = await Alert.get()
    assert "waits for a second person's approval" in waiting.text
    assert alert.status is AlertStatus.PENDING_APPROVAL
    assert not await Delivery.filter(kind=DeliveryKind.ALERT).exists()

    [own] = await supervisor.send("/approve")  # nobody approves their own alert
    assert own.text == "Nothing is waiting for your approval."
    [listing] = await second.send("/approve")
    assert f"Alert #{alert.id} · Missing person · 2 pages" in listing.text
    assert listing.actions == [f"ov:a:{alert.id}:y", f"ov:a:{alert.id}:n"]
    [approved] = await second.send("1")
    assert approved.text == f"Alert #{alert.id} approved: it is going out to 2 pages."
    alert = await Alert.get(id=alert.id)
    assert alert.status is AlertStatus.ACTIVE
    assert alert.approved_by_id == p.second_supervisor.id  # type: ignore[attr-defined]
    assert await _deliveries(DeliveryKind.ALERT) == await _follower_ids(p.ea_kar, p.ea_pal)


async def test_a_second_person_can_refuse_an_alert_which_then_never_goes_out(
    db: TortoiseContext, settings: Settings
) -> None:
    p = await province()
    supervisor = await linked(p, p.supervisor, settings, "tg-supervisor")
    second = await linked(p, p.second_supervisor, settings, "tg-second")
    await supervisor.send("/alert")
    await supervisor.press("oa:cat:fraud_warning")
    await supervisor.send("Cảnh báo lừa đảo qua điện thoại")
    await supervisor.send("Kẻ gian giả danh công an.")
    await supervisor.press("oa:skip:phone")
    await supervisor.press("oa:to:all")
    await supervisor.press("oa:confirm")
    alert = await Alert.get()
    assert alert.status is AlertStatus.PENDING_APPROVAL

    await second.send("/approve")
    [why] = await second.press(f"ov:a:{alert.id}:n")
    assert why.text.startswith(f"Why is alert #{alert.id} not sent?")
    [done] = await second.send("Trùng với cảnh báo của tỉnh hôm qua")
    assert done.text == f"Alert #{alert.id} will not be sent; its author is told why."
    alert = await Alert.get(id=alert.id)
    assert alert.status is AlertStatus.CLOSED and alert.sent_at is None
    assert not await Delivery.filter(kind=DeliveryKind.ALERT).exists()
    # The second person was asked, then the issuer told why, each in their language
    # (Vietnamese here).
    told = await Delivery.filter(kind=DeliveryKind.NOTIFICATION).order_by("id")
    assert [str(row.payload["text"]) for row in told] == [
        f"Cảnh báo #{alert.id} gửi đến nhiều xã và đang chờ người thứ hai phê duyệt: gõ /duyet.",
        f"Cảnh báo #{alert.id} của bạn không được duyệt và sẽ không được gửi: "
        "Trùng với cảnh báo của tỉnh hôm qua",
    ]
    [listing] = await second.send("/approve")
    assert listing.text == "Nothing is waiting for your approval."


async def test_out_of_scope_is_not_found(db: TortoiseContext, settings: Settings) -> None:
    p = await province()
    officer = await linked(p, p.officer, settings, "tg-officer")
    other = await pagekit.staff(
        await Unit.get(id=p.ea_pal.unit_id),  # type: ignore[attr-defined]
        name="Đỗ Văn Em",
    )
    other_officer = await linked(p, other, settings, "tg-other")
    await other_officer.send("/alert")
    await other_officer.press("oa:cat:crime_warning")
    await other_officer.send("Trộm cắp xe máy ban đêm")
    await other_officer.send("Khoá xe cẩn thận.")
    await other_officer.press("oa:skip:phone")
    await other_officer.press("oa:confirm")
    alert = await Alert.get()
    post = await Post.get(alert_id=alert.id)

    for command in (f"/found {alert.id}", f"/update {alert.id}", f"/stats {post.id}"):
        [answer] = await officer.send(command)
        assert answer.text == "Not found, or not in your area. Check the number."
    [answer] = await officer.press(f"oe:{alert.id}")
    assert answer.text == "Not found, or not in your area. Check the number."
    assert (await Alert.get(id=alert.id)).status is AlertStatus.ACTIVE
