"""Builders for the admin web tests: two districts with a commune each, staff with web logins,
a controlled clock, and a browser-like client that logs in through the real forms (reading
the CSRF token from the page, sending the Origin a browser sends)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import tortoise.timezone
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from communepol.db.models import Role, Staff, Unit, UnitLevel
from communepol.services import auth as auth_service
from communepol.services.auth import totp_code, totp_counter
from communepol.services.staff import hash_password
from communepol.services.units import add_hamlet
from tests import pagekit

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
ORIGIN = "http://127.0.0.1:8080"  # the public base URL of the test settings
PASSWORD = "correct horse battery staple"
# Mid-morning in Vietnam, so nothing depends on the real time of the run.
START = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_SECRET = re.compile(r"<code>([A-Z2-7 ]+)</code>")
_PENDING = re.compile(r'name="pending" value="([^"]+)"')


class Clock:
    """The time the session service and every stored ``auto_now_add`` column see."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def install_clock(monkeypatch: pytest.MonkeyPatch, *modules: Any) -> Clock:
    clock = Clock(START)
    for module in (auth_service, *modules):
        monkeypatch.setattr(module, "utcnow", clock)
    monkeypatch.setattr(tortoise.timezone, "now", clock)
    return clock


@dataclass
class Scene:
    province: Unit
    district_1: Unit
    district_2: Unit
    commune_a: Unit
    commune_b: Unit
    officer_a: Staff
    officer_b: Staff
    supervisor_1: Staff
    supervisor_2: Staff
    admin: Staff


async def web_staff(where: Unit, username: str, role: Role = Role.OFFICER, name: str = "") -> Staff:
    return await Staff.create(
        full_name=name or username.replace(".", " ").title(),
        role=role,
        unit=where,
        username=username,
        password_hash=hash_password(PASSWORD),
    )


async def scene() -> Scene:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    district_1 = await pagekit.unit("Huyện Cư M'gar", UnitLevel.DISTRICT, parent=province)
    district_2 = await pagekit.unit("Huyện Ea Kar", UnitLevel.DISTRICT, parent=province)
    commune_a = await pagekit.unit("Xã Ea Pốk", parent=district_1)
    commune_b = await pagekit.unit("Xã Cư Huê", parent=district_2)
    await add_hamlet(commune_a, "Ea Sinh", kind="Buôn")
    await add_hamlet(commune_b, "Ea Đar", kind="Buôn")
    return Scene(
        province=province,
        district_1=district_1,
        district_2=district_2,
        commune_a=commune_a,
        commune_b=commune_b,
        officer_a=await web_staff(commune_a, "officer.a"),
        officer_b=await web_staff(commune_b, "officer.b"),
        supervisor_1=await web_staff(district_1, "supervisor.one", Role.SUPERVISOR),
        supervisor_2=await web_staff(district_2, "supervisor.two", Role.SUPERVISOR),
        admin=await web_staff(province, "admin.province", Role.ADMIN),
    )


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Browser:
    """One person's browser on the admin pages: its own cookies (the client's jar is a
    DummyCookieJar, so several people can share one test server), no automatic redirects,
    and the Origin header a browser sends with a form."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookies and "Cookie" not in headers:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep(self, response: ClientResponse) -> ClientResponse:
        for name, morsel in response.cookies.items():
            if morsel.value == "" or morsel["max-age"] == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value
        return response

    async def get(self, path: str, headers: dict[str, str] | None = None) -> ClientResponse:
        response = await self.client.get(
            path, headers=self._headers(headers), allow_redirects=False
        )
        return self._keep(response)

    async def post(
        self,
        path: str,
        data: Any,
        *,
        origin: str | None = ORIGIN,
        headers: dict[str, str] | None = None,
    ) -> ClientResponse:
        sent = self._headers(headers)
        if origin is not None:
            sent["Origin"] = origin
        response = await self.client.post(path, data=data, headers=sent, allow_redirects=False)
        return self._keep(response)

    async def csrf(self, path: str) -> str:
        response = await self.get(path)
        assert response.status == 200, (path, response.status)
        return csrf_of(await response.text())

    async def login(self, username: str, password: str = PASSWORD, **kwargs: Any) -> ClientResponse:
        token = await self.csrf("/admin/login")
        return await self.post(
            "/admin/login",
            {"csrf": token, "username": username, "password": password},
            **kwargs,
        )

    def session_cookie(self) -> str | None:
        return self.cookies.get("communepol")

    async def enrol(self, clock: Clock) -> str:
        """Set up the second factor through the enrolment page; returns the secret."""
        page = await (await self.get("/admin/totp")).text()
        found = _SECRET.search(page)
        pending = _PENDING.search(page)
        assert found and pending, "the enrolment page shows no key"
        secret = found.group(1).replace(" ", "")
        response = await self.post(
            "/admin/totp",
            {
                "csrf": csrf_of(page),
                "pending": pending.group(1),
                "code": totp_code(secret, totp_counter(clock.now)),
            },
        )
        assert response.status == 303, response.status
        return secret

    async def logout(self) -> ClientResponse:
        token = await self.csrf("/admin/")
        return await self.post("/admin/logout", {"csrf": token})


async def signed_in(
    client: TestClient[Any, Any], staff: Staff, clock: Clock, secrets: dict[int, str]
) -> Browser:
    """A browser of its own for ``staff``, logged in, past the second factor when their role
    needs one (enrolling the first time, typing the code afterwards)."""
    browser = Browser(client)
    response = await browser.login(staff.username or "")
    assert response.status == 303, response.status
    where = response.headers["Location"]
    if where == "/admin/totp":
        secrets[staff.id] = await browser.enrol(clock)
    elif where == "/admin/login/code":
        token = await browser.csrf("/admin/login/code")
        code = totp_code(secrets[staff.id], totp_counter(clock.now))
        done = await browser.post("/admin/login/code", {"csrf": token, "code": code})
        assert done.status == 303
    return browser
