"""The admin web in a real browser (Chromium through Playwright), used as a person would: type
into the forms, click, read what the page shows. Each test saves a full-page screenshot to
test-artifacts/browser/.

A supervisor logs in with the second factor and reads the dashboard; an officer reads their
commune's coverage; the login page and the dashboard are looked at on a phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from communepol.db.models import (
    Follow,
    FollowStatus,
    Household,
    Post,
    PostCategory,
    PostStatus,
    Publication,
    Tip,
    TipCategory,
    TipStatus,
    Unit,
    UnitLevel,
)
from tests import pagekit
from tests.browser.browserkit import log_in, log_out, path_of
from tests.browser.conftest import Screenshot
from tests.web.adminkit import Clock, Scene, scene

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
    phone = await chromium.new_context(
        base_url=server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
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
    finally:
        await phone.close()
