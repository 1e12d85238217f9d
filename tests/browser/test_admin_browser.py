"""The admin web in a real browser (Chromium through Playwright), used as a person would: type
into the forms, click, read what the page shows. Each test saves a full-page screenshot to
test-artifacts/browser/.

A supervisor logs in with the second factor and reads the dashboard; an officer reads their
commune's coverage; the login page and the dashboard are looked at on a phone; an officer
filters, acknowledges and answers tips; a post is scheduled and found on the calendar; an alert
across two communes is approved by a second supervisor; a new officer given a web login from
the roster signs in with the initial password and must choose their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from communepol.db.models import (
    Alert,
    AlertStatus,
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    DeliveryKind,
    Follow,
    FollowStatus,
    Household,
    Post,
    PostCategory,
    PostStatus,
    Publication,
    Role,
    Staff,
    Tip,
    TipCategory,
    TipMessage,
    TipMessageDirection,
    TipStatus,
    Unit,
    UnitLevel,
)
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.tips import TipInput, Tips
from tests import pagekit
from tests.browser.browserkit import log_in, log_out, path_of, submit
from tests.browser.conftest import Screenshot, open_context
from tests.web.adminkit import Clock, Scene, scene, web_staff

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _tip(unit: Unit, ref: str, clock: Clock, **fields: Any) -> Tip:
    return await Tip.create(
        reference=ref,
        unit=unit,
        category=TipCategory.THEFT,
        text="Mất trộm xe máy",
        first_response_due_at=clock.now + timedelta(hours=1),
        resolution_due_at=clock.now + timedelta(days=3),
        **fields,
    )


async def _dashboard_data(people: Scene, clock: Clock) -> None:
    """District 1 (commune A): 4 tips in 30 days, 2 answered, 2 open of which 1 overdue;
    3 followers; 2 posts published in 30 days (and one older); 1 household, not reached.
    District 2 (commune B) has its own, which district 1's supervisor must not see."""
    bot = await pagekit.account()
    page_a = await pagekit.page(people.commune_a, "ca-ea-pok", bot)
    page_b = await pagekit.page(people.commune_b, "ca-cu-hue", bot)
    await pagekit.followers(page_a, bot, 3, prefix="a")
    await pagekit.followers(page_b, bot, 2, prefix="b")
    for page, count in ((page_a, 2), (page_b, 1)):
        for n in range(count):
            post = await Post.create(
                page=page, category=PostCategory.ANNOUNCEMENT, status=PostStatus.PUBLISHED
            )
            await Publication.create(post=post, occurrence_at=clock.now - timedelta(days=n))
    old = await Post.create(page=page_a, category=PostCategory.ANNOUNCEMENT)
    await Publication.create(post=old, occurrence_at=clock.now - timedelta(days=40))
    start = clock.now
    clock.advance(hours=-2)
    for ref, minutes in (("AAA1", 10), ("AAA2", 30)):
        await _tip(
            people.commune_a,
            ref,
            clock,
            status=TipStatus.RESOLVED,
            first_response_at=clock.now + timedelta(minutes=minutes),
        )
    await _tip(people.commune_a, "AAA3", clock)  # due an hour after it came: overdue now
    clock.now = start
    await _tip(people.commune_a, "AAA4", clock)
    await _tip(people.commune_b, "BBB1", clock)
    hamlet_a = await Unit.get(parent_id=people.commune_a.id, level=UnitLevel.HAMLET)
    await Household.create(hamlet=hamlet_a, head_name="Y Kông Êban", members_count=5)


async def _tile(page: Any, label: str) -> str:
    tile = page.locator(".tile").filter(has_text=label)
    return str(await tile.locator(".big").inner_text())


async def test_a_supervisor_logs_in_with_the_second_factor_and_reads_the_dashboard(
    page: Any, clock: Clock, screenshot: Screenshot
) -> None:
    people = await scene()
    await _dashboard_data(people, clock)
    secrets: dict[int, str] = {}

    # First login: the password, then the enrolment page's key into the "phone".
    await log_in(page, people.supervisor_1, clock, secrets)
    assert people.supervisor_1.id in secrets
    await log_out(page)
    # Every login after: the password, then the code the phone shows now.
    await page.goto("/admin/")
    assert path_of(page) == "/admin/login"  # logged out means logged out
    await log_in(page, people.supervisor_1, clock, secrets)

    assert await page.locator("main h1").inner_text() == "Huyện Cư M'gar"
    assert await _tile(page, "open tips") == "2"
    assert await _tile(page, "overdue tips") == "1"
    assert await _tile(page, "tips answered / received in 30 days") == "2 / 4"
    assert await _tile(page, "page followers") == "3"
    assert await _tile(page, "posts published in 30 days") == "2"
    assert await _tile(page, "households reached / registered") == "0 / 1"
    chart = page.get_by_role("img", name="Median minutes to the first response, per commune")
    assert " ".join((await chart.text_content() or "").split()) == "Xã Ea Pốk 20"  # 10 and 30
    assert "Xã Cư Huê" not in await page.inner_text("body")
    await screenshot(page)


async def test_an_officer_reads_the_coverage_of_their_commune(
    page: Any, clock: Clock, screenshot: Screenshot
) -> None:
    people = await scene()
    bot = await pagekit.account()
    page_a = await pagekit.page(people.commune_a, "ca-xa-ea-pok", bot)
    reached = await pagekit.contact(bot, "user-1")
    await Follow.create(page=page_a, contact=reached, status=FollowStatus.ACTIVE)
    hamlet_a = await Unit.get(parent_id=people.commune_a.id, level=UnitLevel.HAMLET)
    hamlet_b = await Unit.get(parent_id=people.commune_b.id, level=UnitLevel.HAMLET)
    second = await pagekit.unit("Thôn 2", UnitLevel.HAMLET, parent=people.commune_a)
    await Household.create(hamlet=hamlet_a, head_name="Y Kông Êban", members_count=5, address="A1")
    await Household.create(
        hamlet=hamlet_a, head_name="Ama Thuột", members_count=4, own_contact=reached
    )
    await Household.create(hamlet=second, head_name="Nguyễn Thị Hương", members_count=2)
    await Household.create(hamlet=hamlet_b, head_name="H'Bia Niê", members_count=3)

    await log_in(page, people.officer_a, clock, {})
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name="Sections")
            .get_by_role("link", name="Coverage")
            .click()
        )
    assert await page.locator("main h1").inner_text() == "Coverage: Xã Ea Pốk"

    async def row(label: str) -> list[str]:
        cells = page.locator("table.figures tr").filter(
            has=page.get_by_role("rowheader", name=label, exact=True)
        )
        return [text.strip() for text in await cells.locator("td").all_inner_texts()]

    # Registered, own account, shared account, confirmed the latest alert, not reached.
    assert await row("Buôn Ea Sinh") == ["2", "1", "0", "0", "1"]
    assert await row("Thôn 2") == ["1", "0", "0", "0", "1"]
    assert await row("Whole commune") == ["3", "1", "0", "0", "2"]
    visits = await page.locator("table.visits tbody").inner_text()
    assert "Y Kông Êban" in visits and "Nguyễn Thị Hương" in visits
    assert "Ama Thuột" not in visits  # reached through her own account
    body = await page.inner_text("body")
    assert "H'Bia Niê" not in body and "Ea Đar" not in body  # commune B's
    await screenshot(page)


async def test_the_login_page_and_the_dashboard_fit_a_phone(
    chromium: Any, server: str, clock: Clock, screenshot: Screenshot
) -> None:
    people = await scene()
    await _dashboard_data(people, clock)
    async with open_context(
        chromium, server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ) as phone:
        page = await phone.new_page()

        async def fits() -> bool:
            return bool(
                await page.evaluate(
                    "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
                )
            )

        # In Vietnamese, the language the staff read (and the longer words).
        await page.goto("/admin/login?lang=vi")
        assert await page.get_by_role("button", name="Đăng nhập").is_visible()
        assert await fits(), "the login page is wider than the phone"
        await screenshot(page, "login")
        await page.goto("/admin/login?lang=en")
        await log_in(page, people.supervisor_1, clock, {})
        await page.goto("/admin/?lang=vi")
        assert await page.locator("main h1").inner_text() == "Huyện Cư M'gar"
        assert await fits(), "the dashboard is wider than the phone"
        await screenshot(page, "dashboard")


# --- the tips inbox and a tip's page -----------------------------------------------------------


async def _resident(bot: ChannelAccount, user: str) -> Contact:
    found, _ = await find_or_create_contact(
        pagekit.KEYRING, bot, ContactIdentity(platform_user_id=user), locale="vi"
    )
    return found


async def test_an_officer_filters_the_tips_acknowledges_one_and_answers_the_resident(
    page: Any, clock: Clock, screenshot: Screenshot
) -> None:
    people = await scene()
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an Đắk Lắk")
    desk = Tips(pagekit.KEYRING)
    resident = await _resident(bot, "resident-1")
    cow = (
        await desk.submit(
            resident, TipInput("theft", "Có người lạ trộm bò ở buôn", people.commune_a.id)
        )
    ).tip
    clock.advance(minutes=5)
    scam = (
        await desk.submit(
            await _resident(bot, "resident-2"),
            TipInput("fraud", "Gọi điện giả danh công an", people.commune_a.id),
        )
    ).tip
    other = (
        await desk.submit(
            await _resident(bot, "resident-3"),
            TipInput("theft", "Mất xe máy ở chợ", people.commune_b.id),
        )
    ).tip

    await log_in(page, people.officer_a, clock, {})
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name="Sections")
            .get_by_role("link", name="Tips", exact=True)
            .click()
        )
    listed = page.locator("table.tips tbody tr th a")
    assert sorted(await listed.all_inner_texts()) == sorted(
        [f"T-{cow.reference}", f"T-{scam.reference}"]
    )  # commune B's theft is not this officer's
    assert f"T-{other.reference}" not in await page.inner_text("body")

    await page.get_by_label("Category").select_option(label="Theft or robbery")
    await submit(page, "Filter")
    assert await listed.all_inner_texts() == [f"T-{cow.reference}"]
    assert "category=theft" in page.url
    await screenshot(page, "filtered")

    async with page.expect_navigation():
        await listed.first.click()
    assert path_of(page) == f"/admin/tips/T-{cow.reference}"
    assert "Có người lạ trộm bò ở buôn" in await page.inner_text("main")
    clock.advance(minutes=4)
    await submit(page, "Acknowledge")
    assert await page.get_by_role("status").inner_text() == (
        "Acknowledged: the resident is told it was received."
    )
    stored = await Tip.get(id=cow.id)
    assert stored.status is TipStatus.ACKNOWLEDGED and stored.first_response_at == clock.now
    assert not await page.get_by_role("button", name="Acknowledge", exact=True).count()

    reply = "Chúng tôi đang xác minh, cảm ơn bạn."
    await page.get_by_label("Reply to the resident").fill(reply)
    await submit(page, "Send reply")
    assert await page.get_by_role("status").inner_text() == (
        "Your reply was relayed to the resident."
    )
    assert reply in await page.locator("ol.thread").inner_text()
    [message] = await TipMessage.filter(tip_id=cow.id, direction=TipMessageDirection.TO_RESIDENT)
    assert message.text == reply and message.author_id == people.officer_a.id  # type: ignore[attr-defined]
    # The resident's relayed reply waits in the outbox, without the officer's name.
    relayed = [
        row.payload.get("text", "")
        for row in await Delivery.filter(
            contact_id=resident.id, kind=DeliveryKind.REPLY, tip_id=cow.id
        ).order_by("id")
    ]
    assert any(reply in text for text in relayed), relayed
    assert not any(people.officer_a.full_name in text for text in relayed)
    assert (await Tip.get(id=scam.id)).status is TipStatus.NEW  # only the one acted on
    await screenshot(page, "answered")


# --- posts and alerts ------------------------------------------------------------------------


async def _nav(page: Any, label: str) -> None:
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name="Sections")
            .get_by_role("link", name=label, exact=True)
            .click()
        )


async def test_an_officer_schedules_a_post_and_finds_it_on_the_calendar(
    page: Any, clock: Clock, screenshot: Screenshot
) -> None:
    people = await scene()
    bot = await pagekit.account()
    commune_page = await pagekit.page(people.commune_a, "ca-xa-ea-pok", bot)
    await pagekit.followers(commune_page, bot, 2)

    await log_in(page, people.officer_a, clock, {})
    await _nav(page, "Posts")
    async with page.expect_navigation():
        await page.get_by_role("link", name="Write a post").click()
    # Their commune has one page: the editor opens on it.
    assert await page.locator("main h1").inner_text() == "Write a post: Công an Xã Ea Pốk"
    vietnamese = page.get_by_role("group", name="In Vietnamese (required)")
    await vietnamese.get_by_label("Title").fill("Lịch tiếp công dân tuần này")
    await vietnamese.get_by_label("Text").fill("Công an xã tiếp công dân sáng thứ Ba, 7 giờ.")
    await page.get_by_label("Once, at (Vietnam time)").check()
    # 07:00 tomorrow in Vietnam (the clock says 09:30 on 2 March there).
    await page.get_by_label("Date and time").fill("2026-03-03T07:00")
    await screenshot(page, "editor")
    await submit(page, "Submit")

    assert await page.get_by_role("status").inner_text() == "The post is saved."
    assert await page.locator("dd.post-status").inner_text() == "Scheduled"
    post = await Post.get(page_id=commune_page.id)
    assert post.status is PostStatus.SCHEDULED
    assert post.next_run_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 07:00 in Vietnam
    assert not await Publication.exists(post_id=post.id)  # not out before its time
    await screenshot(page, "scheduled")

    await page.goto("/admin/posts/calendar?month=2026-03")
    day = page.locator('td[data-day="2026-03-03"]')
    assert (await day.locator("a.due").inner_text()).strip() == "07:00 Lịch tiếp công dân tuần này"
    assert not await page.locator('td[data-day="2026-03-02"] a.due').count()
    await screenshot(page, "calendar")


async def test_a_second_supervisor_approves_an_alert_across_two_communes(
    page: Any, clock: Clock, screenshot: Screenshot
) -> None:
    people = await scene()
    ea_tul = await pagekit.unit("Xã Ea Tul", parent=people.district_1)
    second = await web_staff(people.district_1, "supervisor.three", Role.SUPERVISOR)
    bot = await pagekit.account()
    page_a = await pagekit.page(people.commune_a, "ca-xa-ea-pok", bot)
    page_tul = await pagekit.page(ea_tul, "ca-xa-ea-tul", bot)
    await pagekit.followers(page_a, bot, 2, prefix="a")
    await pagekit.followers(page_tul, bot, 1, prefix="t")
    secrets: dict[int, str] = {}

    # The first supervisor issues it for the whole district: two communes, so it waits.
    await log_in(page, people.supervisor_1, clock, secrets)
    await _nav(page, "Alerts")
    async with page.expect_navigation():
        await page.get_by_role("link", name="Issue an alert").click()
    await page.get_by_label("Category").select_option(label="Missing person")
    await page.get_by_label("Headline").fill("Tìm trẻ lạc: cháu Y Blin, 7 tuổi")
    await page.get_by_label("What happened").fill("Cháu đi lạc từ chiều qua ở chợ Ea Pốk.")
    await page.get_by_label("Name", exact=True).fill("Y Blin")
    await page.get_by_label("Last seen where").fill("Chợ Ea Pốk")
    await page.get_by_label("Whom to call (phone)").fill("0912345678")
    await page.get_by_label("Huyện Cư M'gar").check()
    await submit(page, "Send the alert")
    assert await page.get_by_role("status").inner_text() == (
        "The alert waits for a second person's approval."
    )
    alert = await Alert.get(headline="Tìm trẻ lạc: cháu Y Blin, 7 tuổi")
    assert alert.status is AlertStatus.PENDING_APPROVAL
    assert not await page.get_by_role(
        "button", name="Approve and send"
    ).count()  # not by the issuer
    await log_out(page)

    # The second supervisor finds it among their approvals and sends it.
    await log_in(page, second, clock, secrets)
    await _nav(page, "Approvals")
    waiting = page.locator("article.waiting").filter(has_text="Tìm trẻ lạc: cháu Y Blin")
    assert "Cháu đi lạc từ chiều qua" in await waiting.inner_text()
    await screenshot(page, "waiting")
    async with page.expect_navigation():
        await waiting.get_by_role("button", name="Approve and send").click()
    assert await page.get_by_role("status").inner_text() == "Approved: the alert is out."
    assert await page.locator("dd.alert-status").inner_text() == "Out"
    assert (await Alert.get(id=alert.id)).status is AlertStatus.ACTIVE
    # Out to the followers of both communes' pages (2 + 1), waiting in the outbox.
    publications = await Publication.filter(post__alert_id=alert.id)
    assert sorted(row.recipients for row in publications) == [1, 2]  # one post a page
    sent_to = await Delivery.filter(publication_id__in=[row.id for row in publications])
    assert len({row.contact_id for row in sent_to}) == 3  # type: ignore[attr-defined]
    message = page.locator("tr[data-message]").filter(has_text="Tìm trẻ lạc")
    assert await message.locator("td").nth(1).inner_text() == "3"  # recipients, as shown
    await screenshot(page, "approved")


async def test_a_supervisor_gives_a_new_officer_a_web_login_and_they_choose_their_password(
    page: Any, clock: Clock, screenshot: Screenshot
) -> None:
    people = await scene()
    secrets: dict[int, str] = {}

    # The supervisor puts a new officer on the roster with a web username.
    await log_in(page, people.supervisor_1, clock, secrets)
    await _nav(page, "Staff")
    await page.get_by_label("Full name").fill("Nguyễn Thị Hoa")
    await page.get_by_label("Unit").select_option(label="Xã Ea Pốk")
    await page.get_by_label("Role").last.select_option(label="Officer")
    await page.get_by_label("Web username (optional)").fill("hoa.nguyen")
    await submit(page, "Add")
    initial = await page.locator("code.initial-password").inner_text()
    assert len(initial) >= 12
    row = page.locator("tr").filter(has_text="Nguyễn Thị Hoa")
    assert "(initial password)" in await row.inner_text()
    await screenshot(page, "roster")
    await log_out(page)

    # The officer signs in with it and can go nowhere but the password page.
    await page.goto("/admin/login")
    await page.get_by_label("Username").fill("hoa.nguyen")
    await page.get_by_label("Password").fill(initial)
    await submit(page, "Log in")
    assert path_of(page) == "/admin/password"
    await page.goto("/admin/tips")
    assert path_of(page) == "/admin/password"
    # A common password is refused on the form; a passphrase of their own is taken.
    await page.get_by_label("Initial password").fill(initial)
    await page.get_by_label("New password (at least 12 characters)").fill("password1234")
    await page.get_by_label("New password again").fill("password1234")
    await submit(page, "Change password")
    assert "one of the most common passwords" in await page.get_by_role("alert").inner_text()
    own = "cà phê buôn Ea Sinh lúc bình minh"
    await page.get_by_label("Initial password").fill(initial)
    await page.get_by_label("New password (at least 12 characters)").fill(own)
    await page.get_by_label("New password again").fill(own)
    await submit(page, "Change password")
    await screenshot(page, "changed")
    await page.goto("/admin/")
    assert path_of(page) == "/admin/"
    assert await page.locator("main h1").inner_text() == "Xã Ea Pốk"
    await log_out(page)

    # The initial password no longer opens anything; their own does.
    await page.get_by_label("Username").fill("hoa.nguyen")
    await page.get_by_label("Password").fill(initial)
    await submit(page, "Log in")
    assert path_of(page) == "/admin/login"
    officer = await Staff.get(username="hoa.nguyen")
    await log_in(page, officer, clock, secrets, password=own)
