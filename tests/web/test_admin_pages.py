"""The admin screens through the real application: every route × every role kept inside the
staff member's subtree (a table-driven matrix: another commune or district is 404, with none
of its data in the answer), and each screen showing the figures of seeded data — the coverage
page the service's numbers and the household to visit, the households page its list, the add
form and the CSV import's refused rows, the dashboard its counts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from communepol.db.models import (
    Follow,
    FollowStatus,
    Household,
    Post,
    PostCategory,
    PostStatus,
    Publication,
    Staff,
    Tip,
    TipCategory,
    TipStatus,
    Unit,
    UnitLevel,
)
from communepol.services import coverage, households, overview
from tests import pagekit
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, scene, signed_in


@dataclass
class Places:
    scene: Scene
    hamlet_a: Unit
    hamlet_b: Unit


@pytest.fixture
async def places(client: TestClient[Any, Any]) -> Places:
    people = await scene()
    hamlet_a = await Unit.get(parent_id=people.commune_a.id, level=UnitLevel.HAMLET)
    hamlet_b = await Unit.get(parent_id=people.commune_b.id, level=UnitLevel.HAMLET)
    await Household.create(hamlet=hamlet_a, head_name="Y Kông Êban", members_count=5, address="A1")
    await Household.create(hamlet=hamlet_b, head_name="H'Bia Niê", members_count=3, address="B1")
    return Places(people, hamlet_a, hamlet_b)


# --- the scope matrix --------------------------------------------------------------------------

A, B = "A", "B"
ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
# Which communes each role may see: officers their own, supervisors their district's, the
# province admin both.
SEES = {
    "officer_a": {A},
    "officer_b": {B},
    "supervisor_1": {A},
    "supervisor_2": {B},
    "admin": {A, B},
}
SECRET_OF = {A: ("Y Kông Êban", "Buôn Ea Sinh"), B: ("H'Bia Niê", "Buôn Ea Đar")}


def _no_data_of(html: str, commune: str) -> bool:
    text = unescape(html)
    return not any(word in text for word in SECRET_OF[commune])


async def test_every_route_keeps_each_role_in_its_subtree(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    ids = {A: people.commune_a.id, B: people.commune_b.id}
    hamlets = {A: places.hamlet_a.id, B: places.hamlet_b.id}
    secrets: dict[int, str] = {}
    browsers = {
        role: await signed_in(client, getattr(people, role), clock, secrets) for role in ROLES
    }
    anonymous = Browser(client)
    screens = ("coverage", "households")
    problems: list[str] = []

    def expect(cell: str, got: int, wanted: int) -> None:
        if got != wanted:
            problems.append(f"{cell}: {got}, expected {wanted}")

    for role in ROLES:
        browser = browsers[role]
        for path in ("/admin/", "/admin/coverage", "/admin/households", "/admin/password"):
            response = await browser.get(path)
            expect(f"{role} GET {path}", response.status, 200)
            html = await response.text()
            for commune in (A, B):
                if commune not in SEES[role] and not _no_data_of(html, commune):
                    problems.append(f"{role} GET {path} shows commune {commune}")
            assert response.headers["Cache-Control"] == "no-store"
        for screen in screens:
            for commune in (A, B):
                path = f"/admin/{screen}?commune={ids[commune]}"
                response = await browser.get(path)
                allowed = commune in SEES[role]
                expect(f"{role} GET {path}", response.status, 200 if allowed else 404)
                html = await response.text()
                if allowed:
                    assert SECRET_OF[commune][0] in unescape(html), (role, path)
                for other in (A, B):
                    if other not in SEES[role] and not _no_data_of(html, other):
                        problems.append(f"{role} GET {path} shows commune {other}")
                assert response.headers["Cache-Control"] == "no-store"
            for bad in ("999999", str(people.district_1.id), str(places.hamlet_a.id), "x1"):
                response = await browser.get(f"/admin/{screen}?commune={bad}")
                expect(f"{role} GET {screen}?commune={bad}", response.status, 404)
        # Writing into another commune: the add form and the import.
        for commune in (A, B):
            token = csrf_of(await (await browser.get("/admin/password")).text())
            added = await browser.post(
                f"/admin/households?commune={ids[commune]}",
                {
                    "csrf": token,
                    "hamlet": str(hamlets[commune]),
                    "head": f"Hộ thử {role}",
                    "members": "2",
                },
            )
            allowed = commune in SEES[role]
            expect(f"{role} POST add in {commune}", added.status, 303 if allowed else 404)
            form = FormData()
            form.add_field("csrf", token)
            form.add_field(
                "file",
                f"thon,chu_ho,so_nguoi\nEa Sinh,Nhập {role},2\n".encode(),
                filename="ho.csv",
                content_type="text/csv",
            )
            imported = await browser.post(f"/admin/households/import?commune={ids[commune]}", form)
            expect(f"{role} POST import in {commune}", imported.status, 200 if allowed else 404)
        # A hamlet of another commune named in a form of one's own commune.
        own = next(iter(SEES[role]))
        other = B if own == A else A
        if other not in SEES[role]:
            token = csrf_of(await (await browser.get("/admin/password")).text())
            sneaky = await browser.post(
                f"/admin/households?commune={ids[own]}",
                {"csrf": token, "hamlet": str(hamlets[other]), "head": "Lén", "members": "1"},
            )
            expect(f"{role} POST add with {other}'s hamlet", sneaky.status, 404)

    for path in ("/admin/", f"/admin/coverage?commune={ids[A]}", "/admin/households"):
        response = await anonymous.get(path)
        expect(f"anonymous GET {path}", response.status, 303)
    response = await anonymous.post(
        f"/admin/households?commune={ids[A]}",
        {"hamlet": str(hamlets[A]), "head": "Vô danh", "members": "1"},
    )
    expect("anonymous POST add", response.status, 403)

    assert problems == []
    # Exactly the allowed writes happened: one add and one import per role and commune seen.
    heads = set(await Household.all().values_list("head_name", flat=True))
    for role in ROLES:
        assert f"Hộ thử {role}" in heads
    assert "Lén" not in heads and "Vô danh" not in heads
    imported_a = await Household.filter(hamlet_id=places.hamlet_a.id, head_name__startswith="Nhập")
    assert sorted(h.head_name for h in imported_a) == sorted(
        f"Nhập {role}" for role in ROLES if A in SEES[role]
    )


async def test_a_supervisor_picks_among_the_communes_of_their_district(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    extra = await pagekit.unit("Xã Ea Tar", parent=people.district_1)
    browser = await signed_in(client, people.supervisor_1, clock, {})
    html = await (await browser.get("/admin/coverage")).text()
    assert f'?commune={people.commune_a.id}"' in html
    assert f'?commune={extra.id}"' in html
    assert "Xã Cư Huê" not in html
    officer = await signed_in(client, people.officer_a, clock, {})
    own = await (await officer.get("/admin/coverage")).text()
    assert "Coverage" in own or "Mức độ tiếp cận" in own
    assert "Y Kông Êban" in own  # straight to their commune


# --- the coverage screen ---------------------------------------------------------------------


def _row(html: str, label: str) -> list[int]:
    found = re.search(rf"<th scope=\"row\">{re.escape(label)}</th>(.*?)</tr>", html, re.S)
    assert found, f"no row {label!r}"
    return [int(cell.replace(".", "")) for cell in re.findall(r"<td>([\d.]+)</td>", found[1])]


async def test_the_coverage_page_shows_the_services_figures_and_who_to_visit(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    commune = people.commune_a
    bot = await pagekit.account()
    page = await pagekit.page(commune, "ca-xa-ea-pok", bot)
    reached = await pagekit.contact(bot, "user-1")
    from communepol.db.models import Follow, FollowStatus

    await Follow.create(page=page, contact=reached, status=FollowStatus.ACTIVE)
    second = await pagekit.unit("Thôn 2", UnitLevel.HAMLET, parent=commune)
    await Household.create(
        hamlet=places.hamlet_a, head_name="Ama Thuột", members_count=4, own_contact=reached
    )
    await Household.create(hamlet=second, head_name="Nguyễn Thị Hương", members_count=2)
    expected = await coverage.coverage(people.officer_a, commune.id)

    browser = await signed_in(client, people.officer_a, clock, {})
    response = await browser.get(f"/admin/coverage?commune={commune.id}&lang=en")
    assert response.status == 200
    html = await response.text()
    for figures in [*expected.hamlets, expected.commune]:
        label = figures.name if figures is not expected.commune else "Whole commune"
        assert _row(html, label) == [
            figures.registered,
            figures.own,
            figures.shared,
            figures.confirmed,
            figures.unreached,
        ], label
    assert expected.commune.registered == 3 and expected.commune.own == 1
    visits = html.split("visit these households")[1]
    assert "Nguyễn Thị Hương" in visits and "Y Kông Êban" in visits
    assert "Ama Thuột" not in visits  # reached through her own account
    assert "H&#39;Bia Niê" not in html and "H'Bia Niê" not in html


# --- the households screen -------------------------------------------------------------------


async def test_households_list_add_and_import_with_refused_rows(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    commune = people.commune_a
    browser = await signed_in(client, people.officer_a, clock, {})
    path = f"/admin/households?commune={commune.id}"
    html = await (await browser.get(path + "&lang=en")).text()
    assert "Buôn Ea Sinh" in html and "Y Kông Êban" in html
    assert "1 household registered." in html
    token = csrf_of(html)

    added = await browser.post(
        path,
        {
            "csrf": token,
            "hamlet": str(places.hamlet_a.id),
            "head": "Y Blô Niê",
            "members": "6",
            "address": "Nhà 12",
            "phone": "0912 345 678",
        },
    )
    assert added.status == 303
    shown = await (await browser.get(added.headers["Location"] + "&lang=en")).text()
    assert "The household is registered." in shown
    assert "Y Blô Niê" in shown and "+84912345678" in shown
    refused = await browser.post(
        path, {"csrf": token, "hamlet": str(places.hamlet_a.id), "head": "", "members": "0"}
    )
    assert refused.status == 400
    assert await Household.filter(hamlet_id=places.hamlet_a.id).count() == 2

    sheet = (
        "thon,chu_ho,so_nguoi,dia_chi,so_dien_thoai\n"
        "Ea Sinh,H'Nga Êban,4,Nhà 20,\n"
        "Ea Sinh,,3,Nhà 21,\n"
        "Thôn Không Có,Lê Văn Tám,2,,\n"
        "Ea Sinh,Y Mớt,abc,,\n"
    )
    form = FormData()
    form.add_field("csrf", token)
    form.add_field("file", sheet.encode(), filename="ho.csv", content_type="text/csv")
    response = await browser.post(f"/admin/households/import?commune={commune.id}&lang=en", form)
    assert response.status == 200
    result = await response.text()
    assert "1 household imported." in result
    assert "3 rows were refused:" in result
    refused_rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", result)
    assert [int(line) for line, _ in refused_rows] == [3, 4, 5]
    assert "head of household is empty" in refused_rows[0][1]
    assert "no hamlet called" in refused_rows[1][1]
    assert "members must be a whole number" in refused_rows[2][1]
    assert "H&#39;Nga Êban" in result
    assert await Household.filter(hamlet_id=places.hamlet_a.id).count() == 3

    not_csv = FormData()
    not_csv.add_field("csrf", token)
    not_csv.add_field("file", b"\xff\xfe\x00garbage", filename="x.csv", content_type="text/csv")
    bad = await browser.post(f"/admin/households/import?commune={commune.id}", not_csv)
    assert bad.status == 400
    assert await Household.filter(hamlet_id=places.hamlet_a.id).count() == 3

    # A file over the application's 1 MiB request cap reaches the import (a CSV may be 2 MB),
    # which reads it: here, too many rows for one file, said on the page.
    big = FormData()
    big.add_field("csrf", token)
    address = "đường Nguyễn Tất Thành, khu phố Tân Lập, gần chợ trung tâm"
    rows = "".join(
        f"Ea Sinh,Hộ số {n},3,Nhà {n} {address}\n" for n in range(households.MAX_ROWS + 50)
    )
    sheet_bytes = ("thon,chu_ho,so_nguoi,dia_chi\n" + rows).encode()
    assert 1024 * 1024 < len(sheet_bytes) < households.MAX_FILE_BYTES
    big.add_field("file", sheet_bytes, filename="ho.csv", content_type="text/csv")
    response = await browser.post(f"/admin/households/import?commune={commune.id}&lang=en", big)
    assert response.status == 400
    assert "at most 10,000 households in one file" in await response.text()
    assert await Household.filter(hamlet_id=places.hamlet_a.id).count() == 3


# --- the dashboard ---------------------------------------------------------------------------


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


async def test_the_dashboard_counts_the_units_tips_followers_posts_and_households(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    commune_a, commune_b = people.commune_a, people.commune_b
    bot = await pagekit.account()
    page_a = await pagekit.page(commune_a, "ca-ea-pok", bot)
    page_b = await pagekit.page(commune_b, "ca-cu-hue", bot)
    await pagekit.followers(page_a, bot, 3, prefix="a")
    await pagekit.followers(page_b, bot, 2, prefix="b")
    # One of commune A's followers left a week ago; another followed 40 days ago.
    left, early = await Follow.filter(page_id=page_a.id).order_by("id").limit(2)
    await Follow.filter(id=left.id).update(
        status=FollowStatus.STOPPED, stopped_at=clock.now - timedelta(days=7)
    )
    await Follow.filter(id=early.id).update(followed_at=clock.now - timedelta(days=40))
    for page, count in ((page_a, 2), (page_b, 1)):
        for n in range(count):
            post = await Post.create(
                page=page, category=PostCategory.ANNOUNCEMENT, status=PostStatus.PUBLISHED
            )
            await Publication.create(post=post, occurrence_at=clock.now - timedelta(days=n))
    old = await Post.create(page=page_a, category=PostCategory.ANNOUNCEMENT)
    await Publication.create(post=old, occurrence_at=clock.now - timedelta(days=40))
    # Commune A: two answered tips (10 and 30 minutes), one open and overdue, one open.
    start = clock.now
    clock.advance(hours=-2)
    for ref, minutes in (("AAA1", 10), ("AAA2", 30)):
        await _tip(
            commune_a,
            ref,
            clock,
            status=TipStatus.RESOLVED,
            first_response_at=clock.now + timedelta(minutes=minutes),
            resolved_at=clock.now + timedelta(minutes=minutes * 4),  # 40 and 120 minutes
        )
    await _tip(commune_a, "AAA3", clock)  # due an hour after it came: overdue now
    clock.now = start
    await _tip(commune_a, "AAA4", clock)
    await _tip(commune_b, "BBB1", clock)

    browser = await signed_in(client, people.supervisor_1, clock, {})
    html = await (await browser.get("/admin/?lang=en")).text()
    figures = await overview.dashboard(people.supervisor_1)
    assert (figures.open_tips, figures.overdue_tips) == (2, 1)
    assert (figures.received, figures.answered) == (4, 2)
    assert (figures.followers, figures.published) == (2, 2)
    assert (figures.followers_gained, figures.followers_lost) == (2, 1)
    assert (figures.median_first_response_minutes, figures.median_resolution_minutes) == (20, 80)
    assert (figures.coverage.registered, figures.coverage.unreached) == (1, 1)
    assert [(bar.label, bar.value) for bar in figures.response_bars] == [("Xã Ea Pốk", 20.0)]

    def tile(label: str) -> str:
        found = re.search(rf'<span class="big">([^<]+)</span> {re.escape(label)}', html)
        assert found, label
        return found[1]

    assert tile("open tips") == "2"
    assert tile("overdue tips") == "1"
    assert tile("tips answered / received in 30 days") == "2 / 4"
    assert tile("page followers") == "2"
    assert "+2 / −1 in 30 days" in html
    assert tile("median minutes to the first response, 30 days") == "20"
    assert tile("median minutes to resolution, 30 days") == "80"
    assert tile("posts published in 30 days") == "2"
    assert tile("households reached / registered") == "0 / 1"
    chart = html.split('<svg class="bars"')[1].split("</svg>")[0]
    assert "Xã Ea Pốk" in chart and ">20<" in chart
    assert "Xã Cư Huê" not in html

    province = await signed_in(client, people.admin, clock, {})
    wide = await (await province.get("/admin/?lang=en")).text()
    assert re.search(r'<span class="big">3</span> open tips', wide)
    assert re.search(r'<span class="big">4</span> page followers', wide)
    assert re.search(r'<span class="big">3</span> posts published', wide)


async def test_a_deactivated_staff_member_sees_no_screen(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    await Staff.filter(id=places.scene.officer_a.id).update(active=False)
    for path in ("/admin/", f"/admin/coverage?commune={places.scene.commune_a.id}"):
        response = await browser.get(path)
        assert (response.status, response.headers["Location"]) == (303, "/admin/login")


async def test_another_communes_page_reads_like_a_missing_one(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    browser = await signed_in(client, people.officer_a, clock, {})
    other = await browser.get(f"/admin/coverage?commune={people.commune_b.id}")
    missing = await browser.get("/admin/coverage?commune=999999")
    assert other.status == missing.status == 404
    text = await other.text()
    assert text == await missing.text()
    assert "Không có gì ở đây, hoặc nội dung này nằm ngoài đơn vị của đồng chí." in text
    assert other.headers["Cache-Control"] == "no-store"
    bare = await browser.get("/admin")
    assert (bare.status, bare.headers["Location"]) == (303, "/admin/")


async def test_the_menu_shows_an_officer_only_what_they_can_use(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    approver_only = ('href="/admin/approvals"', 'href="/admin/queues"', 'href="/admin/audit"')
    officer = await signed_in(client, places.scene.officer_a, clock, {})
    menu = await (await officer.get("/admin/")).text()
    assert 'href="/admin/tips"' in menu and 'href="/admin/groups"' in menu
    assert not any(link in menu for link in approver_only)
    supervisor = await signed_in(client, places.scene.supervisor_1, clock, {})
    menu = await (await supervisor.get("/admin/")).text()
    assert all(link in menu for link in approver_only)


async def test_an_id_that_cannot_be_one_reads_like_a_missing_object(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    supervisor = await signed_in(client, places.scene.supervisor_1, clock, {})
    # Past the 32-bit ids PostgreSQL would refuse with an error; non-ASCII digits; zero.
    for bad in ("9999999999", "٣", "0"):
        for path in (
            f"/admin/posts/{bad}",
            f"/admin/alerts/{bad}",
            f"/admin/coverage?commune={bad}",
            f"/admin/groups?commune={bad}",
            f"/admin/tips?commune={bad}",
        ):
            response = await supervisor.get(path)
            assert response.status in (400, 404), (path, response.status)
