"""Signing in to the admin web, through the real application and its forms: one answer for
every wrong login, a new session at every login, logout, idle and absolute timeouts,
deactivation and password changes ending sessions, CSRF and Origin checks, throttling per
account and per address (X-Forwarded-For believed only from a trusted proxy), cookie flags,
the TOTP second factor, and no-store."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import AuditEvent, Household, Staff, Unit, UnitLevel, WebSession
from communepol.errors import SettingsError
from communepol.services import auth as auth_service
from communepol.services.auth import totp_code, totp_counter, verify_totp
from communepol.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.web.adminkit import (
    ORIGIN,
    PASSWORD,
    Browser,
    ClientFactory,
    Clock,
    Scene,
    csrf_of,
    scene,
    signed_in,
)


async def _open(browser: Browser) -> int:
    """What the dashboard answers this browser: 200, or 303 to the login."""
    return (await browser.get("/admin/")).status


# --- login ---------------------------------------------------------------------------------


async def test_an_officer_logs_in_and_sees_their_unit(
    client: TestClient[Any, Any], people: Scene
) -> None:
    browser = Browser(client)
    assert (await browser.get("/admin/")).headers["Location"] == "/admin/login"
    response = await browser.login("officer.a")
    assert response.status == 303
    assert response.headers["Location"] == "/admin/"
    page = await browser.get("/admin/")
    assert page.status == 200
    html = await page.text()
    assert "Xã Ea Pốk" in html
    assert 'action="/admin/logout"' in html
    event = await AuditEvent.get(action="auth.login")
    assert event.actor_staff_id == people.officer_a.id
    assert event.ip == "127.0.0.1"


async def test_unknown_user_wrong_password_and_deactivated_get_one_answer(
    client: TestClient[Any, Any], people: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_verify = auth_service.verify_password

    def counting_verify(password_hash: str, password: str) -> bool:
        checks.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth_service, "verify_password", counting_verify)
    await Staff.filter(id=people.officer_b.id).update(active=False)
    answers = []
    for username, password in (
        ("nobody.here", PASSWORD),
        ("officer.a", "not the password at all"),
        ("officer.b", PASSWORD),  # deactivated, right password
    ):
        response = await Browser(client).login(username, password)
        html = await response.text()
        # The page repeats the typed name, and each browser has its own form token.
        html = html.replace(username, "USERNAME").replace(csrf_of(html), "TOKEN")
        answers.append((response.status, html))
    assert answers[0][0] == 401
    assert answers[0] == answers[1] == answers[2]
    assert "Sai tên đăng nhập hoặc mật khẩu." in answers[0][1]
    # Every attempt ran one argon2 check, the unknown user's against a dummy hash.
    assert len(checks) == 3
    assert all(check.startswith("$argon2id$") for check in checks)
    failures = await AuditEvent.filter(action="auth.login_failed").order_by("id")
    assert [f.data["reason"] for f in failures] == ["unknown_user", "bad_password", "inactive"]
    assert all(f.ip == "127.0.0.1" for f in failures)
    assert all(PASSWORD not in str(f.data) for f in failures)
    assert await WebSession.all().count() == 0


async def test_a_login_form_without_its_token_is_refused(
    client: TestClient[Any, Any], people: Scene
) -> None:
    browser = Browser(client)
    await browser.csrf("/admin/login")
    response = await browser.post(
        "/admin/login", {"csrf": "forged", "username": "officer.a", "password": PASSWORD}
    )
    assert response.status == 403
    assert await WebSession.all().count() == 0


# --- sessions ---------------------------------------------------------------------------------


async def test_a_cookie_from_before_the_login_is_never_promoted(
    client: TestClient[Any, Any], people: Scene
) -> None:
    browser = Browser(client)
    browser.cookies["communepol"] = "chosen-by-an-attacker"
    assert (await browser.login("officer.a")).status == 303
    issued = browser.session_cookie()
    assert issued and issued != "chosen-by-an-attacker"
    attacker = Browser(client)
    attacker.cookies["communepol"] = "chosen-by-an-attacker"
    assert await _open(attacker) == 303

    # A login posted from a signed-in browser (the form fetched in another tab, say) gives a
    # new token and ends the old one.
    browser.cookies.pop("communepol")
    token = await browser.csrf("/admin/login")
    browser.cookies["communepol"] = issued
    form = {"csrf": token, "username": "officer.a", "password": PASSWORD}
    assert (await browser.post("/admin/login", form)).status == 303
    second = browser.session_cookie()
    assert second and second != issued
    replay = Browser(client)
    replay.cookies["communepol"] = issued
    assert await _open(replay) == 303
    assert await _open(browser) == 200
    assert await WebSession.filter(revoked_at__isnull=True).count() == 1


async def test_logout_ends_the_session_on_the_server(
    client: TestClient[Any, Any], people: Scene
) -> None:
    browser = Browser(client)
    await browser.login("officer.a")
    token = browser.session_cookie()
    response = await browser.logout()
    assert response.status == 303
    assert response.headers["Location"] == "/admin/login"
    assert browser.session_cookie() is None
    replay = Browser(client)
    replay.cookies["communepol"] = token or ""
    assert await _open(replay) == 303
    session = await WebSession.get()
    assert session.revoked_at is not None


async def test_idle_timeout(client: TestClient[Any, Any], people: Scene, clock: Clock) -> None:
    browser = Browser(client)
    await browser.login("officer.a")
    clock.advance(minutes=29)
    assert await _open(browser) == 200
    clock.advance(minutes=29)  # 29 minutes after the last page: still alive
    assert await _open(browser) == 200
    clock.advance(minutes=30)
    assert await _open(browser) == 303
    session = await WebSession.get()
    assert session.revoked_at is not None
    clock.advance(minutes=1)
    assert await _open(browser) == 303


async def test_absolute_timeout(client: TestClient[Any, Any], people: Scene, clock: Clock) -> None:
    browser = Browser(client)
    await browser.login("officer.a")
    for _ in range(35):  # busy all day: a page every 20 minutes, 11 h 40 min
        clock.advance(minutes=20)
        assert await _open(browser) == 200
    clock.advance(minutes=20)  # 12 h after the login
    assert await _open(browser) == 303
    assert (await WebSession.get()).revoked_at is not None


async def test_deactivation_ends_every_session_at_once(
    client: TestClient[Any, Any], people: Scene
) -> None:
    phone, laptop = Browser(client), Browser(client)
    await phone.login("officer.a")
    await laptop.login("officer.a")
    assert await _open(phone) == 200
    await Staff.filter(id=people.officer_a.id).update(active=False)
    assert await _open(laptop) == 303
    assert await _open(phone) == 303
    assert await WebSession.filter(revoked_at__isnull=True).count() == 0


async def test_a_password_change_ends_the_other_sessions(
    client: TestClient[Any, Any], people: Scene
) -> None:
    phone, laptop = Browser(client), Browser(client)
    await phone.login("officer.a")
    await laptop.login("officer.a")
    new = "a brand new long password"
    wrong = await laptop.post(
        "/admin/password",
        {
            "csrf": await laptop.csrf("/admin/password"),
            "current": "not it",
            "new": new,
            "repeat": new,
        },
    )
    assert wrong.status == 401
    assert await _open(phone) == 200
    response = await laptop.post(
        "/admin/password",
        {
            "csrf": await laptop.csrf("/admin/password"),
            "current": PASSWORD,
            "new": new,
            "repeat": new,
        },
    )
    assert response.status == 200
    assert await _open(laptop) == 200
    assert await _open(phone) == 303
    assert (await Browser(client).login("officer.a")).status == 401
    assert (await Browser(client).login("officer.a", new)).status == 303


# --- CSRF --------------------------------------------------------------------------------------


async def test_csrf_missing_wrong_token_or_foreign_origin_change_nothing(
    client: TestClient[Any, Any], people: Scene
) -> None:
    browser = Browser(client)
    await browser.login("officer.a")
    page = await browser.get(f"/admin/households?commune={people.commune_a.id}")
    token = csrf_of(await page.text())
    hamlet = await Unit.get(parent_id=people.commune_a.id, level=UnitLevel.HAMLET)
    form = {"hamlet": str(hamlet.id), "head": "Y Bhim Niê", "members": "4", "address": "Buôn"}
    path = f"/admin/households?commune={people.commune_a.id}"
    refused = [
        await browser.post(path, form),
        await browser.post(path, {**form, "csrf": "0" * 64}),
        await browser.post(path, {**form, "csrf": token}, origin="https://evil.example"),
        await browser.post(path, {**form, "csrf": token}, origin="null"),
        await browser.post(path, {**form, "csrf": token}, origin=None),  # no Origin, no Referer
    ]
    assert [r.status for r in refused] == [403] * 5
    assert await Household.all().count() == 0
    # GET does not log out, and the logout form without a token does not either.
    assert (await browser.get("/admin/logout")).status == 405
    assert (await browser.post("/admin/logout", {})).status == 403
    assert await _open(browser) == 200
    # The same form, as the page sends it, works (a Referer from this site is accepted too).
    accepted = await browser.post(
        path, {**form, "csrf": token}, origin=None, headers={"Referer": f"{ORIGIN}/admin/"}
    )
    assert accepted.status == 303
    assert await Household.all().count() == 1


# --- throttling ------------------------------------------------------------------------------


async def test_failed_logins_are_throttled_per_account_with_a_growing_wait(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    for username in ("officer.a", "no.such.person"):
        statuses = [
            (await Browser(client).login(username, "wrong password")).status for _ in range(5)
        ]
        assert statuses == [401] * 5
        throttled = await Browser(client).login(username, PASSWORD)  # even the right one
        assert throttled.status == 429
        assert throttled.headers["Retry-After"] == "5"
        clock.advance(seconds=6)
        assert (await Browser(client).login(username, "wrong again")).status == 401
        longer = await Browser(client).login(username, PASSWORD)
        assert longer.status == 429
        assert longer.headers["Retry-After"] == "10"
        clock.advance(seconds=11)
    # Never a permanent lockout: after the wait the right password works.
    assert (await Browser(client).login("officer.a")).status == 303
    assert await AuditEvent.filter(action="auth.login_failed").count() == 12
    assert await AuditEvent.filter(action="auth.login_throttled").count() == 4


async def test_failed_logins_are_throttled_per_address_and_xff_is_ignored(
    client: TestClient[Any, Any], people: Scene
) -> None:
    for n in range(20):
        response = await Browser(client).login(
            f"guess.{n}", "wrong password", headers={"X-Forwarded-For": f"198.51.100.{n}"}
        )
        assert response.status == 401
    sprayed = await Browser(client).login(
        "officer.a", PASSWORD, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert sprayed.status == 429
    assert int(sprayed.headers["Retry-After"]) > 0
    ips = set(await AuditEvent.filter(action="auth.login_failed").values_list("ip", flat=True))
    assert ips == {"127.0.0.1"}


async def test_xff_from_a_trusted_proxy_names_the_client(
    database_url: str, tmp_path: Path, aiohttp_client: ClientFactory, clock: Clock
) -> None:
    settings = Settings(
        secret_key=TEST_SECRET_KEY,
        database_url=database_url,
        data_dir=tmp_path / "data",
        public_base_url=ORIGIN,
        trusted_proxies=("127.0.0.1",),
    )
    client = await aiohttp_client(create_app(settings), cookie_jar=DummyCookieJar())
    await scene()
    for n in range(20):
        response = await Browser(client).login(
            f"guess.{n}", "wrong", headers={"X-Forwarded-For": "203.0.113.7, 127.0.0.1"}
        )
        assert response.status == 401
    # The address that failed 20 times waits; the officer at another address does not.
    same = await Browser(client).login(
        "officer.a", PASSWORD, headers={"X-Forwarded-For": "203.0.113.7"}
    )
    assert same.status == 429
    other = await Browser(client).login(
        "officer.a", PASSWORD, headers={"X-Forwarded-For": "198.51.100.20"}
    )
    assert other.status == 303
    ips = set(await AuditEvent.filter(action="auth.login_failed").values_list("ip", flat=True))
    assert ips == {"203.0.113.7"}


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    base = {"COMMUNEPOL_SECRET_KEY": TEST_SECRET_KEY}
    parsed = Settings.from_env(
        {**base, "COMMUNEPOL_TRUSTED_PROXIES": " 10.0.0.2, ::1 "}, workdir=tmp_path
    )
    assert parsed.trusted_proxies == ("10.0.0.2", "::1")
    assert Settings.from_env(base, workdir=tmp_path).trusted_proxies == ()
    with pytest.raises(SettingsError, match="COMMUNEPOL_TRUSTED_PROXIES: 'nginx'"):
        Settings.from_env({**base, "COMMUNEPOL_TRUSTED_PROXIES": "nginx"}, workdir=tmp_path)


# --- cookies and headers -----------------------------------------------------------------------


async def test_cookie_flags_on_plain_http(client: TestClient[Any, Any], people: Scene) -> None:
    browser = Browser(client)
    response = await browser.login("officer.a")
    cookie = response.cookies["communepol"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["secure"]
    assert not cookie["domain"]
    assert "communepol" not in response.headers["Location"]


async def test_cookie_flags_behind_https(
    database_url: str, tmp_path: Path, aiohttp_client: ClientFactory, clock: Clock
) -> None:
    base = "https://police.example.org"
    settings = Settings(
        secret_key=TEST_SECRET_KEY,
        database_url=database_url,
        data_dir=tmp_path / "data",
        public_base_url=base,
    )
    client = await aiohttp_client(create_app(settings), cookie_jar=DummyCookieJar())
    await scene()
    form = await client.get("/admin/login")
    nonce = form.cookies["__Host-communepol-login"]
    assert nonce["secure"] is True
    response = await client.post(
        "/admin/login",
        data={"csrf": csrf_of(await form.text()), "username": "officer.a", "password": PASSWORD},
        headers={"Origin": base, "Cookie": f"__Host-communepol-login={nonce.value}"},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = response.cookies["__Host-communepol"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["domain"]
    assert "communepol" not in response.cookies


async def test_admin_pages_are_not_stored(client: TestClient[Any, Any], people: Scene) -> None:
    browser = Browser(client)
    login_page = await browser.get("/admin/login")
    assert login_page.headers["Cache-Control"] == "no-store"
    refused = await browser.login("officer.a", "wrong password")
    assert refused.headers["Cache-Control"] == "no-store"
    await browser.login("officer.a")
    page = await browser.get("/admin/")
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "same-origin"


async def test_english_on_request(client: TestClient[Any, Any], people: Scene) -> None:
    browser = Browser(client)
    page = await browser.get("/admin/login?lang=en")
    html = await page.text()
    assert 'lang="en"' in html and "Log in" in html
    vi = await (await Browser(client).get("/admin/login")).text()
    assert 'lang="vi"' in vi and "Đăng nhập" in vi


# --- the second factor ---------------------------------------------------------------------


def test_totp_matches_rfc_6238() -> None:
    # RFC 6238 appendix B, SHA-1 secret "12345678901234567890", last 6 of the 8 digits.
    secret = base64.b32encode(b"12345678901234567890").decode()
    for seconds, expected in (
        (59, "287082"),
        (1111111109, "081804"),
        (1111111111, "050471"),
        (1234567890, "005924"),
        (2000000000, "279037"),
    ):
        moment = datetime.fromtimestamp(seconds, UTC)
        assert totp_code(secret, totp_counter(moment)) == expected
        assert verify_totp(secret, expected, moment)
    moment = datetime.fromtimestamp(1111111109, UTC)
    code = totp_code(secret, totp_counter(moment))
    later = datetime.fromtimestamp(1111111109 + 30, UTC)
    much_later = datetime.fromtimestamp(1111111109 + 90, UTC)
    assert verify_totp(secret, code, later)  # one step late is fine
    assert not verify_totp(secret, code, much_later)
    assert not verify_totp(secret, "12345", moment)


async def test_a_supervisor_must_enrol_and_then_type_the_code(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    browser = Browser(client)
    response = await browser.login("supervisor.one")
    assert response.headers["Location"] == "/admin/totp"
    for path in ("/admin/", "/admin/coverage", "/admin/households", "/admin/login/code"):
        blocked = await browser.get(path)
        assert (blocked.status, blocked.headers["Location"]) == (303, "/admin/totp"), path
    page = await (await browser.get("/admin/totp")).text()
    assert "otpauth://totp/communepol:supervisor.one?secret=" in page
    assert "<svg" in page
    pending = page.split('name="pending" value="')[1].split('"')[0]
    secret = page.split("<code>")[1].split("</code>")[0].replace(" ", "")
    wrong_code = "000000" if totp_code(secret, totp_counter(clock.now)) != "000000" else "111111"
    wrong = await browser.post(
        "/admin/totp", {"csrf": csrf_of(page), "pending": pending, "code": wrong_code}
    )
    assert wrong.status == 401
    assert (await Staff.get(id=people.supervisor_1.id)).totp_secret_sealed is None
    right = await browser.post(
        "/admin/totp",
        {
            "csrf": csrf_of(page),
            "pending": pending,
            "code": totp_code(secret, totp_counter(clock.now)),
        },
    )
    assert right.status == 303
    sealed = (await Staff.get(id=people.supervisor_1.id)).totp_secret_sealed
    assert sealed and secret not in sealed
    assert await _open(browser) == 200
    await browser.logout()

    again = Browser(client)
    response = await again.login("supervisor.one")
    assert response.headers["Location"] == "/admin/login/code"
    assert (await again.get("/admin/")).headers["Location"] == "/admin/login/code"
    token = await again.csrf("/admin/login/code")
    refused = await again.post("/admin/login/code", {"csrf": token, "code": wrong_code})
    assert refused.status == 401
    assert await _open(again) == 303
    clock.advance(seconds=30)
    done = await again.post(
        "/admin/login/code",
        {"csrf": token, "code": totp_code(secret, totp_counter(clock.now))},
    )
    assert (done.status, done.headers["Location"]) == (303, "/admin/")
    assert await _open(again) == 200
    session = await WebSession.filter(revoked_at__isnull=True).get()
    assert session.second_factor_at is not None

    # A code is good once: the same code, still within its 30 seconds, cannot be replayed.
    await again.logout()
    third = Browser(client)
    await third.login("supervisor.one")
    token = await third.csrf("/admin/login/code")
    code = totp_code(secret, totp_counter(clock.now))
    replayed = await third.post("/admin/login/code", {"csrf": token, "code": code})
    assert replayed.status == 401
    clock.advance(seconds=30)
    fresh = totp_code(secret, totp_counter(clock.now))
    assert (await third.post("/admin/login/code", {"csrf": token, "code": fresh})).status == 303


async def test_an_enrolment_offered_to_one_session_is_refused_in_another(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    first, second = Browser(client), Browser(client)
    await first.login("admin.province")
    await second.login("admin.province")
    page = await (await first.get("/admin/totp")).text()
    pending = page.split('name="pending" value="')[1].split('"')[0]
    secret = page.split("<code>")[1].split("</code>")[0].replace(" ", "")
    stolen = await second.post(
        "/admin/totp",
        {
            "csrf": await second.csrf("/admin/totp"),
            "pending": pending,
            "code": totp_code(secret, totp_counter(clock.now)),
        },
    )
    assert stolen.status == 400
    assert (await Staff.get(id=people.admin.id)).totp_secret_sealed is None


async def test_an_officer_may_enrol_and_is_then_asked_for_the_code(
    client: TestClient[Any, Any], people: Scene, clock: Clock
) -> None:
    secrets: dict[int, str] = {}
    browser = await signed_in(client, people.officer_a, clock, secrets)
    assert await _open(browser) == 200  # no second factor needed
    secret = await browser.enrol(clock)
    await browser.logout()
    again = Browser(client)
    response = await again.login("officer.a")
    assert response.headers["Location"] == "/admin/login/code"
    secrets[people.officer_a.id] = secret
    clock.advance(seconds=30)  # the code used to enrol is spent
    assert await _open(await signed_in(client, people.officer_a, clock, secrets)) == 200
