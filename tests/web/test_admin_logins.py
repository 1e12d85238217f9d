"""Web logins given from the roster, through the real application and its forms: the random
initial password shown once, the first sign-in that reaches only the password page until the
person chooses their own (then a supervisor still enrols the second factor), the 72-hour
expiry of an unused initial password, a reset that ends every session, "end sessions" from the
roster, the password policy on the web form (the breached check against the fake service), and
every new route × role staying inside the subtree and refusing a missing CSRF token."""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import timedelta
from html import unescape
from typing import Any

from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import AuditEvent, Role, Staff, WebSession
from communepol.services.auth import totp_code, totp_counter
from communepol.settings import Settings
from tests.fakes.pwned import FakePwnedPasswords
from tests.web.adminkit import (
    PASSWORD,
    Browser,
    ClientFactory,
    Clock,
    Scene,
    csrf_of,
    scene,
    signed_in,
)

_INITIAL = re.compile(r'<code class="initial-password">([^<]+)</code>')
OWN_PASSWORD = "gió Lào thổi qua đồi cà phê"


def initial_of(html: str) -> str:
    found = _INITIAL.search(html)
    assert found, "the page shows no initial password"
    return found.group(1)


def row_of(html: str, staff: Staff) -> str:
    return unescape(html).split(f'id="staff-{staff.id}"')[1].split("</tr>")[0]


async def _roster(browser: Browser) -> str:
    response = await browser.get("/admin/staff?lang=en")
    assert response.status == 200
    return await response.text()


async def _change(browser: Browser, current: str, new: str, repeat: str | None = None) -> Any:
    token = csrf_of(await (await browser.get("/admin/password?lang=en")).text())
    return await browser.post(
        "/admin/password",
        {
            "csrf": token,
            "current": current,
            "new": new,
            "repeat": new if repeat is None else repeat,
        },
    )


async def _audit_text() -> str:
    return " ".join(str(event.data) for event in await AuditEvent.all())


async def _open_session(staff: Staff, clock: Clock) -> WebSession:
    return await WebSession.create(
        token_hash=secrets.token_hex(32),
        staff=staff,
        last_seen_at=clock.now,
        expires_at=clock.now + timedelta(hours=12),
    )


# --- the first sign-in ---------------------------------------------------------------------


async def test_a_new_officer_signs_in_with_the_initial_password_and_must_choose_their_own(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    added = await supervisor.post(
        "/admin/staff",
        {
            "csrf": csrf_of(await _roster(supervisor)),
            "full_name": "Hoàng Văn Mới",
            "unit": str(people.commune_a.id),
            "role": "officer",
            "username": "Hoang.Moi",
        },
    )
    assert added.status == 200
    html = unescape(await added.text())
    initial = initial_of(html)
    assert "Initial web password for Hoàng Văn Mới (username hoang.moi)" in html
    assert 'class="link-code"' in html  # the bot link code as before
    newcomer = await Staff.get(username="hoang.moi")
    assert newcomer.password_must_change
    assert newcomer.password_expires_at == clock.now + timedelta(hours=72)
    again = await _roster(supervisor)
    assert initial not in again and _INITIAL.search(again) is None
    assert "(initial password)" in row_of(again, newcomer)
    event = await AuditEvent.get(action="staff.added", object_id=str(newcomer.id))
    assert event.data["initial_password"] is True

    newcomer_browser = Browser(client)
    signed = await newcomer_browser.login("hoang.moi", initial)
    assert signed.status == 303 and signed.headers["Location"] == "/admin/password"
    for path in ("/admin/", "/admin/staff", "/admin/tips", "/admin/totp"):
        response = await newcomer_browser.get(path)
        assert response.status == 303 and response.headers["Location"] == "/admin/password", path
    page = unescape(await (await newcomer_browser.get("/admin/password?lang=en")).text())
    assert "You signed in with an initial password" in page
    assert 'href="/admin/staff"' not in page  # no menu until the login is complete

    common = await _change(newcomer_browser, initial, "qwerty123456")
    assert common.status == 400
    assert "one of the most common passwords" in unescape(await common.text())
    same = await _change(newcomer_browser, initial, initial)
    assert same.status == 400
    assert "not the one you have now" in unescape(await same.text())
    personal = await _change(newcomer_browser, initial, "Hoàng Văn Mới 2026")
    assert personal.status == 400
    assert "made of your name" in unescape(await personal.text())
    await newcomer.refresh_from_db()
    assert newcomer.password_must_change

    done = await _change(newcomer_browser, initial, OWN_PASSWORD)
    assert done.status == 303 and done.headers["Location"] == "/admin/"
    assert (await newcomer_browser.get("/admin/")).status == 200
    await newcomer.refresh_from_db()
    assert not newcomer.password_must_change and newcomer.password_expires_at is None
    changed = await AuditEvent.get(action="auth.password_changed", object_id=str(newcomer.id))
    assert changed.data == {"initial": True}
    audit_text = await _audit_text()
    assert initial not in audit_text and OWN_PASSWORD not in audit_text

    # The initial password is gone; the chosen one signs in straight to the dashboard.
    later = Browser(client)
    assert (await later.login("hoang.moi", initial)).status == 401
    fine = await later.login("hoang.moi", OWN_PASSWORD)
    assert fine.status == 303 and fine.headers["Location"] == "/admin/"


async def test_a_new_supervisor_changes_the_password_and_then_enrols(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    admin = await signed_in(client, people.admin, clock, {})
    added = await admin.post(
        "/admin/staff",
        {
            "csrf": csrf_of(await _roster(admin)),
            "full_name": "Phạm Thị Giám",
            "unit": str(people.district_2.id),
            "role": "supervisor",
            "username": "pham.giam",
        },
    )
    assert added.status == 200
    initial = initial_of(await added.text())
    browser = Browser(client)
    assert (await browser.login("pham.giam", initial)).headers["Location"] == "/admin/password"
    done = await _change(browser, initial, OWN_PASSWORD)
    assert done.status == 303
    onwards = await browser.get("/admin/")
    assert onwards.status == 303 and onwards.headers["Location"] == "/admin/totp"
    await browser.enrol(clock)
    assert (await browser.get("/admin/staff")).status == 200


# --- expiry, reset, giving a login ----------------------------------------------------------


async def test_an_unused_initial_password_expires_after_72_hours(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    colleague = await Staff.create(full_name="Lò Văn Chờ", role=Role.OFFICER, unit=people.commune_a)
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    html = await _roster(supervisor)
    row = row_of(html, colleague)
    assert "Give web login" in row and "Reset web password" not in row
    given = await supervisor.post(
        f"/admin/staff/{colleague.id}/login", {"csrf": csrf_of(html), "username": "lo.cho"}
    )
    assert given.status == 200
    initial = initial_of(await given.text())
    event = await AuditEvent.get(action="staff.web_login_given", object_id=str(colleague.id))
    assert event.actor_staff_id == people.supervisor_1.id

    clock.advance(hours=71, minutes=59)
    early = Browser(client)
    assert (await early.login("lo.cho", initial)).headers["Location"] == "/admin/password"
    clock.advance(minutes=1)
    late = Browser(client)
    refused = await late.login("lo.cho", initial)
    assert refused.status == 401
    wrong = await Browser(client).login("lo.cho", "not the password at all")
    assert unescape(await refused.text()).count("Wrong username or password") == unescape(
        await wrong.text()
    ).count("Wrong username or password")
    reasons = [
        event.data["reason"]
        for event in await AuditEvent.filter(action="auth.login_failed").order_by("id")
    ]
    assert reasons == ["initial_password_expired", "bad_password"]


async def test_a_reset_ends_every_session_and_an_enrolled_person_types_the_code_first(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    secrets_by_staff: dict[int, str] = {}
    victim = await signed_in(client, people.supervisor_1, clock, secrets_by_staff)
    clock.advance(seconds=30)  # each authenticator code is good once
    second_device = await signed_in(client, people.supervisor_1, clock, secrets_by_staff)
    admin = await signed_in(client, people.admin, clock, {})
    html = await _roster(admin)
    assert '<td class="sessions">2</td>' in row_of(html, people.supervisor_1)
    reset = await admin.post(
        f"/admin/staff/{people.supervisor_1.id}/password", {"csrf": csrf_of(html)}
    )
    assert reset.status == 200
    initial = initial_of(await reset.text())
    for browser in (victim, second_device):
        landed = await browser.get("/admin/")
        assert landed.status == 303 and landed.headers["Location"] == "/admin/login"
    assert not await WebSession.filter(
        staff_id=people.supervisor_1.id, revoked_at__isnull=True
    ).exists()
    event = await AuditEvent.get(action="staff.password_reset")
    assert event.data["sessions_ended"] == 2 and event.actor_staff_id == people.admin.id
    assert initial not in await _audit_text()

    fresh = Browser(client)
    assert (await fresh.login("supervisor.one")).status == 401  # the old password is gone
    signed = await fresh.login("supervisor.one", initial)
    assert signed.headers["Location"] == "/admin/login/code"
    token = await fresh.csrf("/admin/login/code")
    clock.advance(seconds=30)  # a code of a later step than the last one used
    code = totp_code(secrets_by_staff[people.supervisor_1.id], totp_counter(clock.now))
    typed = await fresh.post("/admin/login/code", {"csrf": token, "code": code})
    assert typed.status == 303
    assert (await fresh.get("/admin/")).headers["Location"] == "/admin/password"
    assert (await _change(fresh, initial, OWN_PASSWORD)).status == 303
    assert (await fresh.get("/admin/")).status == 200


async def test_giving_a_login_is_refused_when_there_is_one_or_the_name_is_taken(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    colleague = await Staff.create(full_name="Y Blô", role=Role.OFFICER, unit=people.commune_a)
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    token = csrf_of(await _roster(supervisor))
    has_one = await supervisor.post(
        f"/admin/staff/{people.officer_a.id}/login", {"csrf": token, "username": "other.name"}
    )
    assert has_one.status == 400
    assert "already has a web login" in unescape(await has_one.text())
    taken = await supervisor.post(
        f"/admin/staff/{colleague.id}/login", {"csrf": token, "username": "officer.b"}
    )
    assert taken.status == 409
    bad = await supervisor.post(
        f"/admin/staff/{colleague.id}/login", {"csrf": token, "username": "x"}
    )
    assert bad.status == 400
    no_login = await supervisor.post(f"/admin/staff/{colleague.id}/password", {"csrf": token})
    assert no_login.status == 400
    own = await supervisor.post(f"/admin/staff/{people.supervisor_1.id}/password", {"csrf": token})
    assert own.status == 400
    await colleague.refresh_from_db()
    assert colleague.username is None and colleague.password_hash is None
    await people.officer_a.refresh_from_db()
    assert people.officer_a.username == "officer.a" and not people.officer_a.password_must_change


# --- ending someone's sessions ----------------------------------------------------------------


async def test_a_supervisor_ends_an_officers_sessions(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    phone = await signed_in(client, people.officer_a, clock, {})
    office = await signed_in(client, people.officer_a, clock, {})
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    html = await _roster(supervisor)
    row = row_of(html, people.officer_a)
    assert '<td class="sessions">2</td>' in row and "End sessions" in row
    mine = row_of(html, people.supervisor_1)
    assert '<td class="sessions">1</td>' in mine
    assert f"/admin/staff/{people.supervisor_1.id}/sessions/end" not in html  # that is logout
    ended = await supervisor.post(
        f"/admin/staff/{people.officer_a.id}/sessions/end", {"csrf": csrf_of(html)}
    )
    assert ended.status == 303 and ended.headers["Location"] == "/admin/staff?done=sessions"
    for browser in (phone, office):
        landed = await browser.get("/admin/")
        assert landed.status == 303 and landed.headers["Location"] == "/admin/login"
    event = await AuditEvent.get(action="staff.sessions_ended")
    assert event.actor_staff_id == people.supervisor_1.id
    assert event.object_id == str(people.officer_a.id) and event.data == {"sessions": 2}
    after = unescape(await (await supervisor.get("/admin/staff?done=sessions")).text())
    assert "Their web sessions have ended." in after
    row = row_of(after, people.officer_a)
    assert '<td class="sessions">0</td>' in row and "End sessions" not in row
    # Not for yourself; the supervisor's own session goes on.
    own = await supervisor.post(
        f"/admin/staff/{people.supervisor_1.id}/sessions/end", {"csrf": csrf_of(after)}
    )
    assert own.status == 400
    assert (await supervisor.get("/admin/")).status == 200
    # The officer signs in again as usual: their password still works.
    assert (await phone.login("officer.a", PASSWORD)).status == 303


# --- the password policy on the web form -------------------------------------------------------


async def test_the_web_password_change_checks_breaches_when_configured(
    settings: Settings, aiohttp_client: ClientFactory, clock: Clock
) -> None:
    async with FakePwnedPasswords() as fake:
        fake.breach(OWN_PASSWORD)
        configured = dataclasses.replace(settings, pwned_passwords_url=fake.base_url)
        client = await aiohttp_client(create_app(configured), cookie_jar=DummyCookieJar())
        people = await scene()
        browser = await signed_in(client, people.officer_a, clock, {})
        refused = await _change(browser, PASSWORD, OWN_PASSWORD)
        assert refused.status == 400
        assert "appeared in a data breach" in unescape(await refused.text())
        assert len(fake.calls_to("range")) == 1
        # The service down: the local checks alone decide, and the change goes through.
        await fake.stop()
        accepted = await _change(browser, PASSWORD, OWN_PASSWORD)
        assert accepted.status == 200
        assert "Your password is changed" in unescape(await accepted.text())
        assert (await Browser(client).login("officer.a", OWN_PASSWORD)).status == 303


# --- the scope matrix and CSRF ---------------------------------------------------------------

A, B = "A", "B"
ROLES = ("officer_a", "supervisor_1", "supervisor_2", "admin")
SEES = {"officer_a": {A}, "supervisor_1": {A}, "supervisor_2": {B}, "admin": {A, B}}
MANAGES = {"supervisor_1", "supervisor_2", "admin"}


async def test_every_new_route_keeps_each_role_in_its_subtree(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    commune = {A: people.commune_a, B: people.commune_b}
    secret = {A: ("Officer A", "Xã Ea Pốk"), B: ("Officer B", "Xã Cư Huê")}
    with_login: dict[tuple[str, str], Staff] = {}
    without: dict[tuple[str, str], Staff] = {}
    for role in ROLES:
        for place in (A, B):
            key = (role, place)
            with_login[key] = await Staff.create(
                full_name=f"Có {role} {place}",
                role=Role.OFFICER,
                unit=commune[place],
                username=f"co.{role}.{place}".lower(),
                password_hash=people.officer_a.password_hash,
            )
            await _open_session(with_login[key], clock)
            without[key] = await Staff.create(
                full_name=f"Không {role} {place}", role=Role.OFFICER, unit=commune[place]
            )
    problems: list[str] = []
    secrets_by_staff: dict[int, str] = {}
    for role in ROLES:
        browser = await signed_in(client, getattr(people, role), clock, secrets_by_staff)
        token = csrf_of(await (await browser.get("/admin/staff")).text())
        for place in (A, B):
            key = (role, place)
            allowed = role in MANAGES and place in SEES[role]
            calls: tuple[tuple[str, dict[str, Any], int], ...] = (
                (
                    "/admin/staff",
                    {
                        "full_name": f"Mới {role} {place}",
                        "unit": commune[place].id,
                        "role": "officer",
                        "username": f"moi.{role}.{place}".lower(),
                    },
                    200,
                ),
                (f"/admin/staff/{without[key].id}/login", {"username": f"k.{role}.{place}"}, 200),
                (f"/admin/staff/{with_login[key].id}/sessions/end", {}, 303),
                (f"/admin/staff/{with_login[key].id}/password", {}, 200),
            )
            for path, data, status in calls:
                response = await browser.post(path, {"csrf": token, **data})
                wanted = status if allowed else 403 if role not in MANAGES else 404
                if response.status != wanted:
                    problems.append(f"{role} POST {path} ({place}): {response.status} != {wanted}")
                html = unescape(await response.text())
                for other in (A, B):
                    if other not in SEES[role] and any(word in html for word in secret[other]):
                        problems.append(f"{role} POST {path} ({place}) shows commune {other}")
                if not allowed and _INITIAL.search(html):
                    problems.append(f"{role} POST {path} ({place}) shows a password")
            target = await Staff.get(id=with_login[key].id)
            reset = target.password_must_change
            still_open = await WebSession.filter(
                staff_id=target.id, revoked_at__isnull=True
            ).exists()
            given = (await Staff.get(id=without[key].id)).username is not None
            added = await Staff.exists(username=f"moi.{role}.{place}".lower())
            for what, happened in (
                ("reset", reset),
                ("sessions ended", not still_open),
                ("login given", given),
                ("added with a login", added),
            ):
                if happened is not allowed:
                    problems.append(f"{role} in {place}: {what}={happened}")
    assert problems == []


async def test_every_new_write_refuses_a_missing_csrf_token(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    colleague = await Staff.create(full_name="Y Sáu", role=Role.OFFICER, unit=people.commune_a)
    await _open_session(people.officer_a, clock)
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    token = csrf_of(await _roster(supervisor))
    writes: tuple[tuple[str, dict[str, Any]], ...] = (
        (
            "/admin/staff",
            {
                "full_name": "Không Mã",
                "unit": people.commune_a.id,
                "role": "officer",
                "username": "khong.ma",
            },
        ),
        (f"/admin/staff/{colleague.id}/login", {"username": "y.sau"}),
        (f"/admin/staff/{people.officer_a.id}/password", {}),
        (f"/admin/staff/{people.officer_a.id}/sessions/end", {}),
    )
    for path, data in writes:
        assert (await supervisor.post(path, data)).status == 403, path
        assert (await supervisor.post(path, {**data, "csrf": "forged"})).status == 403, path
        assert (
            await supervisor.post(path, {**data, "csrf": token}, origin="http://evil")
        ).status == 403, path
    assert not await Staff.exists(full_name="Không Mã")
    await colleague.refresh_from_db()
    assert colleague.username is None
    await people.officer_a.refresh_from_db()
    assert not people.officer_a.password_must_change
    assert await WebSession.filter(staff_id=people.officer_a.id, revoked_at__isnull=True).exists()
    anonymous = Browser(client)
    for path, data in writes:
        assert (await anonymous.post(path, data)).status == 403, path
