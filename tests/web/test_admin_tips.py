"""The admin web's tip desk through the real application, on both engines: the reply-time board
(its ranking and figures equal to the service's, its links, the rate-limited "remind the
station"), the tips inbox (each filter, pagination), a tip's page and every officer action on
it (the database, the trail and the resident's outbox), the route × role scope matrix, what an
anonymous tip's page never shows, and stored text rendered escaped."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.db.models import (
    AttachmentStatus,
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Contact,
    Delivery,
    DeliveryKind,
    Post,
    PostCategory,
    PostTranslation,
    RumourCluster,
    RumourVerdict,
    Tip,
    TipAttachment,
    TipEvent,
    TipMessage,
    TipMessageDirection,
    TipStatus,
)
from communepol.services import duty, rumours, sla, tipboard, tipdesk, tipmedia, tips
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.tips import TipInput, Tips
from communepol.settings import Settings
from tests import pagekit
from tests.e2e.test_officer_post import png_with_metadata
from tests.services.test_tips import linked
from tests.web.adminkit import (
    Browser,
    Clock,
    Scene,
    csrf_of,
    scene,
    signed_in,
    web_staff,
)

DESK = Tips(pagekit.KEYRING)
ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
A, B = "A", "B"
SEES = {
    "officer_a": {A},
    "officer_b": {B},
    "supervisor_1": {A},
    "supervisor_2": {B},
    "admin": {A, B},
}
_ROW = re.compile(r'<th scope="row"><a href="/admin/tips/T-([A-Z0-9]+)">')


@dataclass
class World:
    people: Scene
    bot: ChannelAccount
    chats: dict[int, Contact]
    residents: list[Contact]

    async def resident(self, user: str, name: str | None = None) -> Contact:
        found, _ = await find_or_create_contact(
            pagekit.KEYRING,
            self.bot,
            ContactIdentity(platform_user_id=user, display_name=name),
            locale="vi",
        )
        return found

    async def tip(
        self,
        where: str,
        text: str = "Mất xe máy ở chợ",
        category: str = "theft",
        *,
        anonymous: bool = True,
        sender: Contact | None = None,
    ) -> Tip:
        """A tip from a resident of the pool (ten a person an hour: the flood limit)."""
        unit = self.people.commune_a if where == A else self.people.commune_b
        if sender is None:
            count = await Tip.all().count()
            index = count // (tips.FLOOD_LIMIT - 1)
            while len(self.residents) <= index:
                self.residents.append(await self.resident(f"pool-{len(self.residents)}"))
            sender = self.residents[index]
        sent = await DESK.submit(sender, TipInput(category, text, unit.id, anonymous=anonymous))
        return await Tip.get(id=sent.tip.id)


@pytest.fixture
async def world(client: TestClient[Any, Any]) -> World:
    people = await scene()
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an Đắk Lắk")
    chats = {
        person.id: await linked(person, bot, f"staff-{person.id}")
        for person in (people.officer_a, people.officer_b, people.supervisor_1)
    }
    return World(people, bot, chats, [])


async def browsers(
    client: TestClient[Any, Any], people: Scene, clock: Clock, *roles: str
) -> dict[str, Browser]:
    secrets: dict[int, str] = {}
    return {role: await signed_in(client, getattr(people, role), clock, secrets) for role in roles}


async def page(browser: Browser, path: str, status: int = 200) -> str:
    response = await browser.get(path)
    assert response.status == status, (path, response.status)
    assert response.headers["Cache-Control"] == "no-store"
    return await response.text()


def listed(html: str) -> list[str]:
    return _ROW.findall(html)


async def reminders(chat: Contact) -> list[Delivery]:
    return list(
        await Delivery.filter(
            contact_id=chat.id,
            kind=DeliveryKind.NOTIFICATION,
            dedup_key__startswith="notice:remind:",
        ).order_by("id")
    )


async def told(resident: Contact, tip: Tip) -> list[str]:
    rows = await Delivery.filter(
        contact_id=resident.id, kind=DeliveryKind.REPLY, tip_id=tip.id
    ).order_by("id")
    return [row.payload["text"] for row in rows]


# --- the board ---------------------------------------------------------------------------------


async def test_the_board_ranks_the_communes_and_reminds_a_station_once_in_ten_minutes(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    # Commune B: the only tip answered after 5 minutes. Commune A: one answered after 40
    # minutes, two never (a theft must be answered within an hour): overdue.
    b_tip = await world.tip(B)
    clock.advance(minutes=5)
    await DESK.acknowledge(people.officer_b, b_tip.id)
    first = await world.tip(A)
    await world.tip(A)
    await world.tip(A)
    clock.advance(minutes=40)
    await DESK.acknowledge(people.officer_a, first.id)
    clock.advance(minutes=30)
    # A colleague of officer A who is not on duty: the reminder is not theirs.
    colleague = await web_staff(people.commune_a, "officer.a2")
    colleague_chat = await linked(colleague, world.bot, "staff-colleague")
    await duty.duty_on(people.officer_a)

    seen = await browsers(client, people, clock, *ROLES)
    seen["admin"].cookies["lang"] = "en"
    html = await page(seen["admin"], "/admin/board?days=7")
    expected = await sla.response_times_for_unit(people.province, now=clock.now)
    figures = {row.unit_id: row for row in expected}
    a_row, b_row = figures[people.commune_a.id], figures[people.commune_b.id]
    assert (a_row.received, a_row.answered, a_row.open, a_row.overdue) == (3, 1, 3, 2)
    assert (b_row.received, b_row.answered, b_row.overdue) == (1, 1, 0)
    # Ranked: the commune with overdue tips first, whatever the alphabet says.
    text = unescape(html)
    assert text.index(people.commune_a.name) < text.index(people.commune_b.name)
    cells = re.findall(r"<td>([^<]*)</td>", html)
    assert cells[:5] == ["3", "1", "40", "40", "3"]  # commune A's row: the first
    assert f'href="/admin/tips?commune={people.commune_a.id}&amp;status=open"' in html
    # The link leads to that commune's open tips.
    linked_inbox = await page(
        seen["admin"], f"/admin/tips?commune={people.commune_a.id}&status=open"
    )
    assert len(listed(linked_inbox)) == 3 and b_tip.reference not in linked_inbox
    # Supervisor 1 sees commune A only.
    own = unescape(await page(seen["supervisor_1"], "/admin/board"))
    assert people.commune_a.name in own and people.commune_b.name not in own

    # Remind the station: one message to the officer on duty, in their bot.
    token = csrf_of(html)
    remind = f"/admin/board/{people.commune_a.id}/remind"
    done = await seen["supervisor_1"].post(remind, {"csrf": csrf_of(own)})
    assert done.status == 303
    assert done.headers["Location"].endswith("reminded=1")
    [sent] = await reminders(world.chats[people.officer_a.id])
    assert "2" in sent.payload["text"] and people.commune_a.name in sent.payload["text"]
    assert await reminders(colleague_chat) == []
    [record] = await AuditEvent.filter(action="tip.station_reminded")
    assert record.actor_staff_id == people.supervisor_1.id
    assert record.unit_id == people.commune_a.id and record.source == "web"
    # The board now says when it was done instead of offering the button.
    after = await page(seen["supervisor_1"], "/admin/board")
    assert remind not in after
    # A second click within ten minutes, by anyone: refused politely, nothing sent.
    clock.advance(minutes=9)
    again = await seen["admin"].post(remind, {"csrf": token})
    assert again.status == 429
    assert "10 minutes" in await again.text()
    assert len(await reminders(world.chats[people.officer_a.id])) == 1
    # Outside one's district, or without a CSRF token: nothing is sent either.
    for role in ("supervisor_2", "officer_b"):
        other = await seen[role].post(remind, {"csrf": csrf_of(await page(seen[role], "/admin/"))})
        assert other.status == 404, role
        assert people.commune_a.name not in unescape(await other.text())
    clock.advance(minutes=2)
    forged = await seen["admin"].post(remind, {})
    assert forged.status == 403
    assert len(await reminders(world.chats[people.officer_a.id])) == 1
    # Ten minutes later it may be sent again; with nobody on duty it goes to every officer.
    await duty.duty_off(people.officer_a)
    later = await seen["admin"].post(remind, {"csrf": token})
    assert later.status == 303 and later.headers["Location"].endswith("reminded=2")
    assert len(await reminders(world.chats[people.officer_a.id])) == 2
    assert len(await reminders(colleague_chat)) == 1


async def test_the_board_shows_the_services_figures_for_each_period(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    old = await world.tip(A)
    clock.advance(minutes=12)
    await DESK.acknowledge(people.officer_a, old.id)
    clock.advance(days=20)
    recent = await world.tip(A)
    clock.advance(minutes=3)
    await DESK.take(people.officer_a, recent.id)
    seen = await browsers(client, people, clock, "officer_a")
    for days, received, median in ((7, "1", "3"), (30, "2", "7.5"), (90, "2", "7.5")):
        [row] = await tipdesk.board(people.officer_a, days)
        assert row.figures.received == int(received)
        html = await page(seen["officer_a"], f"/admin/board?days={days}&lang=en")
        assert f'<option value="{days}" selected>' in html
        cells = re.findall(r"<td>([^<]*)</td>", html)
        assert cells[0] == received and cells[2] == median, (days, cells)
    # Anything else is the default period.
    html = await page(seen["officer_a"], "/admin/board?days=5")
    assert '<option value="30" selected>' in html


# --- the inbox ---------------------------------------------------------------------------------


async def test_the_inbox_filters_sorts_and_pages(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    theft = await world.tip(A, category="theft")
    clock.advance(minutes=1)
    named_sender = await world.resident("named-1", "Hoàng Thị Lan")
    named = await world.tip(A, category="gambling", anonymous=False, sender=named_sender)
    clock.advance(minutes=1)
    question = await world.tip(A, category="procedure_question")
    clock.advance(minutes=1)
    closed = await world.tip(A, category="drugs")
    await DESK.resolve(people.officer_a, closed.id, "Đã xử lý")
    other_commune = await world.tip(B, category="theft")
    clock.advance(minutes=90)  # the theft (an hour) is overdue, the gambling (8 h) is not
    await DESK.acknowledge(people.officer_a, named.id)

    seen = await browsers(client, people, clock, "admin", "officer_a")
    admin = seen["admin"]

    async def refs(query: str, browser: Browser = admin) -> set[str]:
        return set(listed(await page(browser, "/admin/tips" + query)))

    everything = {t.reference for t in (theft, named, question, closed, other_commune)}
    assert await refs("") == everything
    assert await refs("?status=open") == everything - {closed.reference}
    assert await refs("?status=resolved") == {closed.reference}
    assert await refs("?status=acknowledged") == {named.reference}
    assert await refs("?category=theft") == {theft.reference, other_commune.reference}
    assert await refs(f"?commune={people.commune_a.id}") == everything - {other_commune.reference}
    assert await refs(f"?commune={people.commune_b.id}") == {other_commune.reference}
    assert await refs("?overdue=yes") == {theft.reference, other_commune.reference}
    assert await refs("?anonymous=no") == {named.reference}
    assert await refs("?anonymous=yes") == everything - {named.reference}
    assert await refs(f"?category=theft&commune={people.commune_a.id}&overdue=yes") == {
        theft.reference
    }
    # Newest first by default; most urgent: open tips by their running deadline, closed last.
    order = listed(await page(admin, "/admin/tips"))
    assert order[0] == other_commune.reference and order[-1] == theft.reference
    urgent = listed(await page(admin, "/admin/tips?sort=urgent"))
    assert urgent[0] in (theft.reference, other_commune.reference)
    assert urgent[-1] == closed.reference
    # The question's first response (48 h) runs out before the answered gambling tip's
    # resolution (14 days).
    assert urgent.index(question.reference) < urgent.index(named.reference)
    # The sender column: the alias, or only the word "named".
    html = unescape(await page(admin, "/admin/tips?lang=en"))
    assert (theft.alias or "?") in html and "named" in html and "Hoàng Thị Lan" not in html
    # A commune outside the scope is 404, an unknown filter value 400.
    await page(seen["officer_a"], f"/admin/tips?commune={people.commune_b.id}", 404)
    await page(admin, "/admin/tips?status=lost", 400)
    await page(admin, "/admin/tips?category=witchcraft", 400)
    await page(admin, "/admin/tips?commune=abc", 404)


async def test_the_inbox_pages_fifty_tips_at_a_time(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    made = []
    for _ in range(tipdesk.PAGE_SIZE + 5):
        made.append((await world.tip(A)).reference)
        clock.advance(seconds=30)
    browser = (await browsers(client, world.people, clock, "officer_a"))["officer_a"]
    first = await page(browser, "/admin/tips?status=open")
    assert listed(first) == list(reversed(made))[: tipdesk.PAGE_SIZE]
    assert 'href="/admin/tips?status=open&amp;page=2"' in first
    second = await page(browser, "/admin/tips?status=open&page=2")
    assert listed(second) == list(reversed(made))[tipdesk.PAGE_SIZE :]
    assert 'href="/admin/tips?status=open&amp;page=1"' in second and "page=3" not in second
    # Past the last page: the last page.
    assert listed(await page(browser, "/admin/tips?status=open&page=9")) == listed(second)


# --- the scope matrix --------------------------------------------------------------------------


async def test_every_tip_route_keeps_each_role_in_its_subtree(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    made = {
        A: await world.tip(A, "Bí mật xã A: trộm bò ở buôn Ea Sinh"),
        B: await world.tip(B, "Bí mật xã B: đánh bạc ở buôn Ea Đar", "gambling"),
    }
    secret = {
        A: (made[A].reference, "Bí mật xã A", people.commune_a.name),
        B: (made[B].reference, "Bí mật xã B", people.commune_b.name),
    }
    seen = await browsers(client, people, clock, *ROLES)
    problems: list[str] = []

    def expect(cell: str, got: int, wanted: int) -> None:
        if got != wanted:
            problems.append(f"{cell}: {got}, expected {wanted}")

    def leaks(role: str, cell: str, html: str) -> None:
        text = unescape(html)
        for commune in (A, B):
            if commune not in SEES[role] and any(word in text for word in secret[commune]):
                problems.append(f"{cell} shows commune {commune}")

    for role in ROLES:
        browser = seen[role]
        for path in ("/admin/board", "/admin/tips", "/admin/tips?status=open&sort=urgent"):
            response = await browser.get(path)
            expect(f"{role} GET {path}", response.status, 200)
            html = await response.text()
            leaks(role, f"{role} GET {path}", html)
            for commune in SEES[role]:
                assert secret[commune][2] in unescape(html), (role, path)
        for commune in (A, B):
            allowed = commune in SEES[role]
            path = f"/admin/tips/T-{made[commune].reference}"
            response = await browser.get(path)
            expect(f"{role} GET {path}", response.status, 200 if allowed else 404)
            html = await response.text()
            leaks(role, f"{role} GET {path}", html)
            if allowed:
                assert secret[commune][1] in unescape(html)
            # The commune filter and the reminder of a commune outside the scope.
            unit = people.commune_a if commune == A else people.commune_b
            response = await browser.get(f"/admin/tips?commune={unit.id}")
            expect(f"{role} GET tips?commune={commune}", response.status, 200 if allowed else 404)
            leaks(role, f"{role} GET tips?commune={commune}", await response.text())
        token = csrf_of(await (await browser.get("/admin/tips")).text())
        for commune in (A, B):
            if commune in SEES[role]:
                continue
            tip = made[commune]
            for action, data in (
                ("ack", {}),
                ("take", {}),
                ("reply", {"text": "Trả lời lén"}),
                ("note", {"text": "Ghi chú lén"}),
                ("resolve", {"text": "Xong"}),
                ("reject", {"text": "Không"}),
                ("duplicate", {"original": made[A if commune == B else B].reference}),
            ):
                path = f"/admin/tips/T-{tip.reference}/{action}"
                response = await browser.post(path, {"csrf": token, **data})
                expect(f"{role} POST {path}", response.status, 404)
                leaks(role, f"{role} POST {path}", await response.text())
            unit = people.commune_a if commune == A else people.commune_b
            response = await browser.post(f"/admin/board/{unit.id}/remind", {"csrf": token})
            expect(f"{role} POST remind {commune}", response.status, 404)
        # A district is no commune to remind; an id that is nothing at all is 404 too.
        for bad in (str(people.district_1.id), "999999", "x"):
            response = await browser.post(f"/admin/board/{bad}/remind", {"csrf": token})
            expect(f"{role} POST remind {bad}", response.status, 404)
        for bad in ("T-AAAAAA", "999999", "x" * 30):
            response = await browser.get(f"/admin/tips/{bad}")
            expect(f"{role} GET tips/{bad}", response.status, 404)

    anonymous = Browser(client)
    for path in ("/admin/board", "/admin/tips", f"/admin/tips/T-{made[A].reference}"):
        response = await anonymous.get(path)
        expect(f"anonymous GET {path}", response.status, 303)
        assert response.headers["Location"] == "/admin/login"
    for path in (
        f"/admin/tips/T-{made[A].reference}/ack",
        f"/admin/board/{people.commune_a.id}/remind",
    ):
        response = await anonymous.post(path, {})
        expect(f"anonymous POST {path}", response.status, 403)
    assert problems == []
    # Nothing changed, nobody was reminded, nothing reached a resident.
    assert {tip.status for tip in await Tip.all()} == {TipStatus.NEW}
    assert await TipMessage.filter(direction__not=TipMessageDirection.FROM_RESIDENT).count() == 0
    assert not await AuditEvent.exists(action="tip.station_reminded")
    assert await Delivery.filter(kind=DeliveryKind.REPLY).count() == 0


# --- a tip's page and its actions --------------------------------------------------------------


async def test_acknowledge_and_answer_a_tip_from_its_page(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    resident = await world.resident("res-ack", "Y Bih")
    tip = await world.tip(A, "Có người lạ trộm bò", sender=resident)
    before = len(await told(resident, tip))
    browser = (await browsers(client, people, clock, "officer_a"))["officer_a"]
    path = f"/admin/tips/T-{tip.reference}"
    html = await page(browser, path + "?lang=en")
    assert "Có người lạ trộm bò" in unescape(html) and (tip.alias or "?") in unescape(html)
    viewed = await AuditEvent.filter(action="tip.viewed", object_id=str(tip.id))
    assert [(row.actor_staff_id, row.source) for row in viewed] == [(people.officer_a.id, "web")]
    token = csrf_of(html)

    # Without the CSRF token, with a wrong one, from another site or by GET: nothing changes.
    assert (await browser.post(f"{path}/ack", {})).status == 403
    assert (await browser.post(f"{path}/ack", {"csrf": token[:-2] + "xx"})).status == 403
    foreign = await browser.post(f"{path}/ack", {"csrf": token}, origin="https://evil.example")
    assert foreign.status == 403
    assert (await browser.get(f"{path}/ack")).status == 405
    assert (await Tip.get(id=tip.id)).status is TipStatus.NEW
    assert await TipEvent.filter(tip_id=tip.id).count() == 1  # "created" only

    clock.advance(minutes=4)
    done = await browser.post(f"{path}/ack", {"csrf": token})
    assert done.status == 303 and done.headers["Location"] == f"{path}?done=ack"
    stored = await Tip.get(id=tip.id)
    assert stored.status is TipStatus.ACKNOWLEDGED and stored.first_response_at == clock.now
    event = await TipEvent.filter(tip_id=tip.id, kind="status").order_by("-id").first()
    assert event is not None and event.actor_id == people.officer_a.id  # type: ignore[attr-defined]
    assert event.data["to"] == "acknowledged"
    assert len(await told(resident, tip)) == before + 1
    shown = unescape(await page(browser, f"{path}?done=ack&lang=en"))
    assert "Acknowledged: the resident is told it was received." in shown

    # A second acknowledgement (someone else was quicker): a message on the tip's page.
    browser.cookies["lang"] = "en"
    again = await browser.post(f"{path}/ack", {"csrf": token})
    assert again.status == 409
    refused = unescape(await again.text())
    assert "Someone acknowledged this tip meanwhile; nothing was changed." in refused
    assert "Có người lạ trộm bò" in refused  # the page itself, not an error page

    reply = "Chúng tôi đang xác minh, cảm ơn bạn."
    answered = await browser.post(f"{path}/reply", {"csrf": token, "text": reply})
    assert answered.status == 303 and answered.headers["Location"] == f"{path}?done=reply"
    last = (await told(resident, tip))[-1]
    assert reply in last and people.officer_a.full_name not in last
    [message] = await TipMessage.filter(tip_id=tip.id, direction=TipMessageDirection.TO_RESIDENT)
    assert message.text == reply and message.author_id == people.officer_a.id  # type: ignore[attr-defined]
    assert await TipEvent.exists(tip_id=tip.id, kind="replied", actor_id=people.officer_a.id)
    assert await AuditEvent.exists(action="tip.replied", source="web")
    thread = unescape(await page(browser, path))
    assert reply in thread

    # An empty text is refused on the page, and nothing is written.
    empty = await browser.post(f"{path}/note", {"csrf": token, "text": "   "})
    assert empty.status == 400
    assert (
        await TipMessage.filter(tip_id=tip.id, direction=TipMessageDirection.INTERNAL_NOTE).count()
        == 0
    )


async def test_take_note_resolve_reject_and_duplicate_from_the_page(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    resident = await world.resident("res-all")
    first = await world.tip(A, "Trộm xe đạp", sender=resident)
    second = await world.tip(A, "Trộm xe đạp lần nữa", sender=resident)
    third = await world.tip(A, "Tin không đúng", sender=resident)
    other = await world.tip(B, "Xã khác")
    browser = (await browsers(client, people, clock, "supervisor_1"))["supervisor_1"]
    token = csrf_of(await page(browser, f"/admin/tips/T-{first.reference}"))

    async def act(tip: Tip, action: str, **data: str) -> Any:
        return await browser.post(
            f"/admin/tips/T-{tip.reference}/{action}", {"csrf": token, **data}
        )

    assert (await act(first, "take")).status == 303
    taken = await Tip.get(id=first.id)
    assert taken.status is TipStatus.IN_PROGRESS
    assert taken.assignee_id == people.supervisor_1.id  # type: ignore[attr-defined]
    assert (await act(first, "take")).status == 409  # already theirs
    assert (await act(first, "note", text="Đã gọi trưởng thôn")).status == 303
    [note] = await TipMessage.filter(tip_id=first.id, direction=TipMessageDirection.INTERNAL_NOTE)
    assert note.text == "Đã gọi trưởng thôn"
    assert (await act(first, "resolve", text="Đã tìm thấy xe")).status == 303
    resolved = await Tip.get(id=first.id)
    assert resolved.status is TipStatus.RESOLVED and resolved.outcome == "Đã tìm thấy xe"
    assert "Đã tìm thấy xe" in (await told(resident, first))[-1]
    # Closed: resolving again is a conflict said on the page; the page offers no close form.
    late = await act(first, "reject", text="Không")
    assert late.status == 409 and first.reference in await late.text()
    assert (await Tip.get(id=first.id)).status is TipStatus.RESOLVED
    assert f"T-{first.reference}/resolve" not in await page(
        browser, f"/admin/tips/T-{first.reference}"
    )

    assert (await act(third, "reject", text="Thông tin không chính xác")).status == 303
    assert (await Tip.get(id=third.id)).status is TipStatus.REJECTED

    # Duplicate: of itself, of a tip outside the scope and of nothing are refused.
    assert (await act(second, "duplicate", original=f"T-{second.reference}")).status == 400
    assert (await act(second, "duplicate", original=other.reference)).status == 400
    assert (await act(second, "duplicate", original="")).status == 400
    assert (await Tip.get(id=second.id)).status is TipStatus.NEW
    done = await act(second, "duplicate", original=f"t-{first.reference.lower()}")
    assert done.status == 303
    marked = await Tip.get(id=second.id)
    assert marked.status is TipStatus.DUPLICATE
    assert marked.duplicate_of_id == first.id  # type: ignore[attr-defined]
    shown = await page(browser, f"/admin/tips/T-{second.reference}")
    assert f'href="/admin/tips/T-{first.reference}"' in shown
    # Every change is a TipEvent by the supervisor, audited as from the web.
    actions = await AuditEvent.filter(source="web", action__startswith="tip.").values_list(
        "action", flat=True
    )
    assert {"tip.taken", "tip.noted", "tip.resolved", "tip.rejected", "tip.duplicate"} <= set(
        actions
    )
    assert await TipEvent.filter(actor_id=people.supervisor_1.id, kind="status").count() == 4
    # An unknown action is 404.
    assert (await act(second, "reveal")).status == 404


# --- privacy -----------------------------------------------------------------------------------


async def test_an_anonymous_tips_page_shows_the_alias_and_never_the_sender(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    sentinel_name, sentinel_id = "Sentinel Tên Thật Zq81", "sentinel-uid-77731"
    resident = await world.resident(sentinel_id, sentinel_name)
    tip = await world.tip(A, "Có đường dây đánh bạc", "gambling", sender=resident)
    seen = await browsers(client, people, clock, "officer_a", "admin")
    for role in ("officer_a", "admin"):
        for path in (
            f"/admin/tips/T-{tip.reference}",
            f"/admin/tips/T-{tip.reference}?lang=en",
            "/admin/tips",
            "/admin/tips?anonymous=yes",
            "/admin/board",
        ):
            html = await page(seen[role], path)
            text = unescape(html)
            assert sentinel_name not in text and sentinel_id not in text, (role, path)
            assert resident.identity_hash not in html
            if "/admin/tips" in path:
                assert (tip.alias or "?") in text
    english = unescape(await page(seen["officer_a"], f"/admin/tips/T-{tip.reference}?lang=en"))
    assert "not possible on the web" in english and "/reveal" in english
    # A named tip shows the name the resident agreed to show, never their platform id.
    named = await world.tip(A, "Tôi báo tên thật", anonymous=False, sender=resident)
    html = unescape(await page(seen["officer_a"], f"/admin/tips/T-{named.reference}?lang=en"))
    assert sentinel_name in html and sentinel_id not in html
    assert "not possible on the web" not in html
    listing = unescape(await page(seen["officer_a"], "/admin/tips?lang=en"))
    assert sentinel_name not in listing


async def test_stored_text_is_rendered_escaped(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    attack = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    tip = await world.tip(A, attack + " {{7*7}} </textarea>")
    await DESK.note(world.people.officer_a, tip.id, attack)
    await DESK.resolve(world.people.officer_a, tip.id, attack)
    browser = (await browsers(client, world.people, clock, "officer_a"))["officer_a"]
    html = await page(browser, f"/admin/tips/T-{tip.reference}")
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    # The text, the resident's message in the thread, the note and the outcome.
    assert html.count(escaped) == 4
    assert "{{7*7}} &lt;/textarea&gt;" in html  # shown as typed, never evaluated
    assert "<script" not in html  # no script at all: the CSP forbids inline ones anyway
    listing = await page(browser, "/admin/tips")
    assert "<script>alert(1)" not in listing


async def test_the_attachments_are_behind_signed_links(
    client: TestClient[Any, Any], world: World, clock: Clock, settings: Settings
) -> None:
    tip = await world.tip(A, "Ảnh chụp kẻ trộm")
    stored = tipmedia.store_for(settings.data_dir).save(
        png_with_metadata(), allowed=tipmedia.ACCEPTED, max_bytes=tipmedia.MAX_BYTES
    )
    photo = await TipAttachment.create(
        tip=tip,
        kind="photo",
        content_type=stored.content_type,
        size_bytes=stored.size,
        sha256=stored.sha256,
        storage_path=stored.path,
        status=AttachmentStatus.STORED,
    )
    await TipAttachment.create(tip=tip, kind="document", status=AttachmentStatus.PENDING)
    await TipAttachment.create(
        tip=tip,
        kind="document",
        status=AttachmentStatus.FAILED,
        error="the platform no longer has this file",  # as tipmedia keeps it: the English
    )
    browser = (await browsers(client, world.people, clock, "officer_a"))["officer_a"]
    browser.cookies["lang"] = "en"
    html = await page(browser, f"/admin/tips/T-{tip.reference}")
    base = settings.public_base_url
    [link] = re.findall(rf'href="({re.escape(base)}/tipfile/{photo.id}/[^"]+)"', html)
    assert "Photo 1" in html and "still being fetched" in html
    assert "could not be kept: the platform no longer has this file" in html
    browser.cookies["lang"] = "vi"
    html_vi = await page(browser, f"/admin/tips/T-{tip.reference}")
    assert "không lưu được: nền tảng không còn lưu tệp này" in html_vi
    # The link is the tipfile route's own: it serves the stored, cleaned file.
    path = link.removeprefix(base)
    served = await client.get(path)
    assert served.status == 200 and served.headers["Content-Type"] == "image/png"
    assert (await served.read()).startswith(b"\x89PNG")
    # A link with another signature is nothing.
    assert (await client.get(path[:-4] + "0000")).status == 404


# --- the export --------------------------------------------------------------------------------


def _csv_rows(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheets read it as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


async def test_the_inbox_exports_its_filtered_tips_as_csv_for_supervisors_and_admins(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    named_sender = await world.resident("named-export", "Hoàng Thị Lan")
    theft_a = await world.tip(A, "Bí mật: trộm bò", anonymous=False, sender=named_sender)
    gambling_a = await world.tip(A, "Bí mật: đánh bạc", "gambling")
    theft_b = await world.tip(B, "Bí mật: trộm xe")
    # An outcome a spreadsheet would run as a formula.
    await DESK.resolve(people.officer_a, gambling_a.id, '=HYPERLINK("http://x","bấm")')
    seen = await browsers(client, people, clock, "admin", "supervisor_1", "officer_a")

    async def export(role: str, **filters: str) -> Any:
        token = csrf_of(await page(seen[role], "/admin/tips"))
        return await seen[role].post("/admin/tips/export", {"csrf": token, **filters})

    # The admin, with every tip of the province, then only the thefts.
    response = await export("admin")
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="tips.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    rows = _csv_rows(await response.read())
    assert rows[0] == list(tipboard.EXPORT_COLUMNS)
    by_ref = {row[0]: row for row in rows[1:]}
    assert set(by_ref) == {f"T-{t.reference}" for t in (theft_a, gambling_a, theft_b)}
    assert by_ref[f"T-{theft_a.reference}"][6] == "named"
    assert by_ref[f"T-{gambling_a.reference}"][6] == gambling_a.alias
    assert by_ref[f"T-{gambling_a.reference}"][9] == '\'=HYPERLINK("http://x","bấm")'
    text = (await response.read()).decode("utf-8")
    assert "Bí mật" not in text and "Hoàng Thị Lan" not in text  # no text, no sender
    thefts = _csv_rows(await (await export("admin", category="theft")).read())
    assert {row[0] for row in thefts[1:]} == {f"T-{theft_a.reference}", f"T-{theft_b.reference}"}

    # A supervisor gets their district's only, and another district's commune is 404.
    mine = _csv_rows(await (await export("supervisor_1")).read())
    assert {row[0] for row in mine[1:]} == {f"T-{theft_a.reference}", f"T-{gambling_a.reference}"}
    response = await export("supervisor_1", commune=str(people.commune_b.id))
    assert response.status == 404
    assert "Bí mật" not in await response.text()
    assert (await export("supervisor_1", status="lost")).status == 400

    # Each export is in the audit log with its count and filters; refusals are not exports.
    events = await AuditEvent.filter(action="tip.exported").order_by("id")
    assert [(e.actor_staff_id, e.data["tips"]) for e in events] == [  # type: ignore[attr-defined]
        (people.admin.id, 3),
        (people.admin.id, 2),
        (people.supervisor_1.id, 2),
    ]
    assert events[1].data["category"] == "theft" and events[0].data["category"] == ""
    assert events[0].source == "web"

    # An officer is not offered the export and is refused it; without the CSRF token, nobody.
    assert 'action="/admin/tips/export"' not in await page(seen["officer_a"], "/admin/tips")
    assert 'action="/admin/tips/export"' in await page(seen["admin"], "/admin/tips")
    assert (await export("officer_a")).status == 403
    assert (await seen["admin"].post("/admin/tips/export", {})).status == 403
    assert await AuditEvent.filter(action="tip.exported").count() == 3


# --- a rumour check: the verdict and its post --------------------------------------------------

RUMOUR = "Công an xã sẽ PHÁT TIỀN hỗ trợ 5 triệu, bấm link http://bit.ly/abc để nhận!!"
FORWARDED = "cong an xa se phat tien ho tro 5 trieu, bam link bit.ly/abc de nhan"
EXPLANATION = "Công an không phát tiền qua đường link. Đây là tin giả để lừa lấy tài khoản."


async def test_a_rumour_verdict_from_the_page_answers_every_sender_and_is_published_once(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    commune_page = await pagekit.page(people.commune_a, "ca-ea-pok", world.bot)
    senders = [await world.resident(f"rumour-{n}") for n in range(3)]
    # Two forwards in commune A and one in commune B: one rumour of the province.
    forwards = [
        await world.tip(A, RUMOUR, "rumour_check", sender=senders[0]),
        await world.tip(A, FORWARDED, "rumour_check", sender=senders[1]),
        await world.tip(B, RUMOUR.lower(), "rumour_check", sender=senders[2]),
    ]
    cluster_id = forwards[0].rumour_cluster_id  # type: ignore[attr-defined]
    assert {tip.rumour_cluster_id for tip in forwards} == {cluster_id}  # type: ignore[attr-defined]
    browser = (await browsers(client, people, clock, "officer_a"))["officer_a"]
    browser.cookies["lang"] = "en"
    path = f"/admin/tips/T-{forwards[0].reference}"
    html = unescape(await page(browser, path))
    assert '<dt>Forwards of this message</dt><dd class="rumour-forwards">3</dd>' in html
    assert '<dd class="rumour-waiting">3</dd>' in html
    assert '<dd class="rumour-verdict">not given yet</dd>' in html
    assert f'action="{path}/verdict"' in html and f'action="{path}/publish"' not in html
    token = csrf_of(html)
    # An ordinary tip has no rumour section.
    theft = await world.tip(A, "Mất xe máy ở chợ")
    assert "Rumour check" not in unescape(await page(browser, f"/admin/tips/T-{theft.reference}"))

    good = {"verdict": "false", "explanation": EXPLANATION}
    # Without the CSRF token, with a wrong one or from another site: nothing changes.
    assert (await browser.post(f"{path}/verdict", good)).status == 403
    wrong = {"csrf": token[:-2] + "xx", **good}
    assert (await browser.post(f"{path}/verdict", wrong)).status == 403
    foreign = await browser.post(
        f"{path}/verdict", {"csrf": token, **good}, origin="https://evil.example"
    )
    assert foreign.status == 403
    assert (await browser.post(f"{path}/publish", {})).status == 403
    assert (await browser.get(f"{path}/verdict")).status == 405

    # Refused input: the form comes back with the reason and what was typed.
    response = await browser.post(f"{path}/verdict", {"csrf": token, "verdict": "misleading"})
    assert response.status == 400
    refused = unescape(await response.text())
    assert "Explain the verdict in a sentence, as residents will read it." in refused
    assert 'value="misleading" checked' in refused
    response = await browser.post(f"{path}/verdict", {"csrf": token, "explanation": EXPLANATION})
    assert response.status == 400
    refused = unescape(await response.text())
    assert "Choose one of the verdicts." in refused and f">{EXPLANATION}</textarea>" in refused
    too_long = "Tin giả. " * 250
    response = await browser.post(
        f"{path}/verdict", {"csrf": token, "verdict": "false", "explanation": too_long}
    )
    assert response.status == 400
    refused = unescape(await response.text())
    assert "The explanation is too long: at most 2000 characters." in refused
    assert too_long.strip() in refused
    # Nothing to publish before a verdict.
    early = await browser.post(f"{path}/publish", {"csrf": token})
    assert early.status == 409 and "This rumour has no verdict yet." in await early.text()
    cluster = await RumourCluster.get(id=cluster_id)
    assert cluster.verdict is None and cluster.post_id is None
    assert {tip.status for tip in await Tip.filter(rumour_cluster_id=cluster_id)} == {TipStatus.NEW}
    before = {
        sender.id: len(await told(sender, tip))
        for sender, tip in zip(senders, forwards, strict=True)
    }

    clock.advance(minutes=5)
    done = await browser.post(f"{path}/verdict", {"csrf": token, **good})
    assert done.status == 303
    assert done.headers["Location"] == f"{path}?done=verdict&answered=3"
    cluster = await RumourCluster.get(id=cluster_id)
    assert cluster.verdict is RumourVerdict.FALSE and cluster.explanation == EXPLANATION
    assert cluster.decided_by_id == people.officer_a.id  # type: ignore[attr-defined]
    for sender, tip in zip(senders, forwards, strict=True):
        stored = await Tip.get(id=tip.id)
        assert stored.status is TipStatus.RESOLVED, tip.reference
        news = await told(sender, tip)
        assert len(news) == before[sender.id] + 1 and EXPLANATION in news[-1], tip.reference
    [trail] = await AuditEvent.filter(action="rumour.verdict")
    assert (trail.source, trail.actor_staff_id, trail.data["answered"]) == (
        "web",
        people.officer_a.id,
        3,
    )
    shown = unescape(await page(browser, done.headers["Location"]))
    assert "Verdict given: every open tip of this rumour is resolved. Residents answered: 3." in (
        shown
    )
    assert '<dd class="rumour-verdict">False</dd>' in shown and EXPLANATION in shown
    assert '<dd class="rumour-waiting">0</dd>' in shown
    assert f'action="{path}/verdict"' not in shown and f'action="{path}/publish"' in shown
    # A second verdict changes nothing.
    again = await browser.post(
        f"{path}/verdict", {"csrf": token, "verdict": "true", **{"explanation": "Đúng"}}
    )
    assert again.status == 409
    assert "This rumour already has a verdict; nothing was changed." in unescape(await again.text())
    assert (await RumourCluster.get(id=cluster_id)).verdict is RumourVerdict.FALSE

    published = await browser.post(f"{path}/publish", {"csrf": token})
    assert published.status == 303 and published.headers["Location"] == f"{path}?done=published"
    [post] = await Post.filter(page_id=commune_page.id)
    assert post.category is PostCategory.RUMOUR_CHECK
    assert (await RumourCluster.get(id=cluster_id)).post_id == post.id
    [text] = await PostTranslation.filter(post_id=post.id)
    assert EXPLANATION in text.body
    assert await AuditEvent.exists(action="post.created", source="web", object_id=str(post.id))
    shown = unescape(await page(browser, published.headers["Location"]))
    assert "The verdict is written as a rumour-check post on your page." in shown
    assert f'<a href="/admin/posts/{post.id}">#{post.id}</a>' in shown
    assert f'action="{path}/publish"' not in shown
    # Once only: a second press (an old page) writes nothing.
    twice = await browser.post(f"{path}/publish", {"csrf": token})
    assert twice.status == 409
    assert "This verdict is already written as a post; nothing was changed." in unescape(
        await twice.text()
    )
    assert await Post.filter(category=PostCategory.RUMOUR_CHECK).count() == 1


async def test_the_verdict_and_publish_routes_keep_to_the_scope(
    client: TestClient[Any, Any], world: World, clock: Clock
) -> None:
    people = world.people
    await pagekit.page(people.commune_a, "ca-ea-pok", world.bot)
    await pagekit.page(people.commune_b, "ca-cu-hue", world.bot)
    rumour = await world.tip(A, RUMOUR, "rumour_check", sender=await world.resident("r-1"))
    decided = await world.tip(A, "Sắp có lệnh giới nghiêm toàn tỉnh từ tối nay", "rumour_check")
    await rumours.give_verdict(
        pagekit.KEYRING, people.officer_a, decided.id, "false", EXPLANATION, source="bot"
    )
    seen = await browsers(client, people, clock, "officer_b", "supervisor_2", "supervisor_1")
    for role in ("officer_b", "supervisor_2"):
        browser = seen[role]
        token = csrf_of(await page(browser, "/admin/tips"))
        for tip, action, data in (
            (rumour, "verdict", {"verdict": "false", "explanation": "Lén"}),
            (decided, "publish", {}),
            (rumour, "publish", {}),
        ):
            response = await browser.post(
                f"/admin/tips/T-{tip.reference}/{action}", {"csrf": token, **data}
            )
            assert response.status == 404, (role, action)
            assert RUMOUR not in unescape(await response.text())
    assert (await RumourCluster.get(id=rumour.rumour_cluster_id)).verdict is None  # type: ignore[attr-defined]
    assert (await RumourCluster.get(id=decided.rumour_cluster_id)).post_id is None  # type: ignore[attr-defined]
    assert await Post.all().count() == 0
    # The district's own supervisor may: the same routes, in scope.
    token = csrf_of(await page(seen["supervisor_1"], "/admin/tips"))
    response = await seen["supervisor_1"].post(
        f"/admin/tips/T-{rumour.reference}/verdict",
        {"csrf": token, "verdict": "unverified", "explanation": "Đang xác minh với huyện."},
    )
    assert response.status == 303
    assert (await RumourCluster.get(id=rumour.rumour_cluster_id)).verdict is (  # type: ignore[attr-defined]
        RumourVerdict.UNVERIFIED
    )
