"""What a person does in the admin web, through a real browser page: log in with the password
form, then the second factor (enrolling an authenticator at the first login, typing its code
afterwards — the code computed from the enrolled secret, as the phone app would)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from communepol.db.models import Staff
from communepol.services.auth import totp_code, totp_counter
from tests.web.adminkit import PASSWORD, Clock


def path_of(page: Any) -> str:
    return urlsplit(page.url).path


async def submit(page: Any, button: str) -> None:
    """Click the form's button ``button`` and wait for the page the server answers with."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=button, exact=True).click()


async def log_in(
    page: Any, staff: Staff, clock: Clock, secrets: dict[int, str], password: str = PASSWORD
) -> None:
    """Sign ``staff`` in from the login page until the admin pages open. ``secrets`` keeps
    the authenticator keys of those who enrolled (as their phones would)."""
    await page.goto("/admin/login")
    await page.get_by_label("Username").fill(staff.username or "")
    await page.get_by_label("Password").fill(password)
    await submit(page, "Log in")
    if path_of(page) == "/admin/totp":
        key = await page.locator(".key code").inner_text()
        secrets[staff.id] = key.replace(" ", "")
        await page.get_by_label("Code").fill(totp_code(secrets[staff.id], totp_counter(clock.now)))
        await submit(page, "Turn on two-step sign-in")
    elif path_of(page) == "/admin/login/code":
        # A code is good once: the phone shows the next one half a minute later.
        clock.advance(seconds=30)
        await page.get_by_label("Code").fill(totp_code(secrets[staff.id], totp_counter(clock.now)))
        await submit(page, "Continue")
    assert path_of(page) == "/admin/", (path_of(page), await page.inner_text("main"))


async def log_out(page: Any) -> None:
    await submit(page, "Log out")
    assert path_of(page) == "/admin/login"
