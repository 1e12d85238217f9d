"""The pages screen through the real application: the pages in scope with followers and
channels; a page's detail with each account's health (its last error — a quota or credential
problem — shows), its QR codes and poster; an admin adds a Telegram bot whose token is stored
sealed and appears in no page, not even a refused form's; only admins add or attach accounts;
every route × role stays inside the subtree; every write refuses a missing CSRF token."""

from __future__ import annotations

from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol import keys
from communepol.crypto import Keyring
from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    ChannelStatus,
    Follow,
    FollowStatus,
    Page,
    PageChannel,
    ReceiveMode,
)
from communepol.services.channels import open_secrets
from tests import pagekit
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, scene, signed_in

TOKEN = "123456789:AAE-SecretTokenTypedIntoTheForm_xyz"
QUOTA_ERROR = "zalo: quota exceeded for promotion messages this month"


def keyring_of(client: TestClient[Any, Any]) -> Keyring:
    app = client.app
    assert app is not None
    return app[keys.KEYRING]


@dataclass
class Stations:
    scene: Scene
    page_a: Page
    page_b: Page
    bot_a: ChannelAccount
    oa_b: ChannelAccount
    spare: ChannelAccount  # a Telegram bot carrying no page yet


@pytest.fixture
async def stations(client: TestClient[Any, Any]) -> Stations:
    people = await scene()
    bot_a = await ChannelAccount.create(
        kind=ChannelKind.TELEGRAM, name="Bot Ea Pốk", public_handle="eapok_bot"
    )
    oa_b = await ChannelAccount.create(
        kind=ChannelKind.ZALO_OA,
        name="OA Cư Huê",
        public_handle="4318",
        status=ChannelStatus.BROKEN,
        last_error=QUOTA_ERROR,
    )
    spare = await ChannelAccount.create(kind=ChannelKind.TELEGRAM, name="Bot dự phòng")
    page_a = await pagekit.page(people.commune_a, "ca-xa-ea-pok", bot_a)
    page_b = await pagekit.page(people.commune_b, "ca-xa-cu-hue", oa_b)
    for n, contact in enumerate(range(3)):
        follower = await pagekit.contact(bot_a, f"user-{n}-{contact}")
        await Follow.create(page=page_a, contact=follower, status=FollowStatus.ACTIVE)
    return Stations(people, page_a, page_b, bot_a, oa_b, spare)


async def test_the_list_and_the_detail_show_followers_channels_health_and_qr(
    client: TestClient[Any, Any], stations: Stations, clock: Clock
) -> None:
    people = stations.scene
    officer = await signed_in(client, people.officer_a, clock, {})
    listing = unescape(await (await officer.get("/admin/pages?lang=en")).text())
    assert "Công an Xã Ea Pốk" in listing and "Công an Xã Cư Huê" not in listing
    row = listing.split("/admin/pages/ca-xa-ea-pok")[1].split("</tr>")[0]
    assert "<td>3</td>" in row and "Telegram bot" in row
    detail = unescape(await (await officer.get("/admin/pages/ca-xa-ea-pok?lang=en")).text())
    assert "Bot Ea Pốk" in detail
    assert f"/webhooks/telegram/{stations.bot_a.id}" in detail
    assert f'src="/p/ca-xa-ea-pok/qr/{stations.bot_a.id}.svg"' in detail
    assert 'src="/p/ca-xa-ea-pok/qr/web.svg"' in detail
    assert 'href="/p/ca-xa-ea-pok/poster"' in detail
    assert "Add a channel account" not in detail  # an officer adds none
    qr = await officer.get(f"/p/ca-xa-ea-pok/qr/{stations.bot_a.id}.svg")
    assert qr.status == 200 and "svg" in qr.headers["Content-Type"]

    supervisor = await signed_in(client, people.supervisor_2, clock, {})
    broken = unescape(await (await supervisor.get("/admin/pages/ca-xa-cu-hue?lang=en")).text())
    account_row = broken.split(f'id="account-{stations.oa_b.id}"')[1].split("</tr>")[0]
    assert QUOTA_ERROR in account_row and "broken" in account_row


async def test_an_admin_adds_a_telegram_bot_whose_token_is_sealed_and_never_shown(
    client: TestClient[Any, Any], stations: Stations, clock: Clock
) -> None:
    people = stations.scene
    admin = await signed_in(client, people.admin, clock, {})
    pages: list[str] = []
    form = await (await admin.get("/admin/pages/ca-xa-ea-pok?lang=en")).text()
    pages.append(form)
    assert 'type="password" name="telegram.token"' in form
    # A refused form (a malformed name) does not echo the token back.
    refused = await admin.post(
        "/admin/pages/ca-xa-ea-pok/accounts?lang=en",
        {"csrf": csrf_of(form), "kind": "telegram", "name": "", "telegram.token": TOKEN},
    )
    assert refused.status == 400
    pages.append(await refused.text())
    # A malformed token: the message names the credential, never its value.
    malformed = await admin.post(
        "/admin/pages/ca-xa-ea-pok/accounts?lang=en",
        {
            "csrf": csrf_of(form),
            "kind": "telegram",
            "name": "Bot sai",
            "telegram.token": "x y" + TOKEN,
        },
    )
    assert malformed.status == 400
    pages.append(await malformed.text())
    assert not await ChannelAccount.exists(name="Bot sai")

    added = await admin.post(
        "/admin/pages/ca-xa-ea-pok/accounts?lang=en",
        {
            "csrf": csrf_of(form),
            "kind": "telegram",
            "name": "Bot mới Ea Pốk",
            "handle": "eapok_moi_bot",
            "receive_mode": "polling",
            "telegram.token": TOKEN,
        },
    )
    assert added.status == 303
    account = await ChannelAccount.get(name="Bot mới Ea Pốk")
    assert account.kind is ChannelKind.TELEGRAM and account.receive_mode is ReceiveMode.POLLING
    assert account.secrets_sealed and TOKEN not in account.secrets_sealed
    assert open_secrets(keyring_of(client), account)["token"] == TOKEN
    assert await PageChannel.exists(page_id=stations.page_a.id, channel_account_id=account.id)
    shown = await admin.get(added.headers["Location"])
    pages.append(await shown.text())
    pages.append(await (await admin.get("/admin/pages")).text())
    for html in pages:
        assert TOKEN not in html and TOKEN not in unescape(html)
    events = await AuditEvent.filter(object_type="channel_account", object_id=str(account.id))
    assert events and all(TOKEN not in str(event.data) for event in events)

    # Attaching an existing account to the page.
    token = csrf_of(pages[-1])
    attached = await admin.post(
        "/admin/pages/ca-xa-cu-hue/attach", {"csrf": token, "account": str(stations.spare.id)}
    )
    assert attached.status == 303
    assert await PageChannel.exists(
        page_id=stations.page_b.id, channel_account_id=stations.spare.id
    )
    # A Zalo OA is one page: the OA of B cannot be attached to A.
    oa = await admin.post(
        "/admin/pages/ca-xa-ea-pok/attach", {"csrf": token, "account": str(stations.oa_b.id)}
    )
    assert oa.status == 404
    assert not await PageChannel.exists(
        page_id=stations.page_a.id, channel_account_id=stations.oa_b.id
    )


# --- the scope matrix --------------------------------------------------------------------------

A, B = "A", "B"
ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
SEES = {
    "officer_a": {A},
    "officer_b": {B},
    "supervisor_1": {A},
    "supervisor_2": {B},
    "admin": {A, B},
}


async def test_every_pages_route_keeps_each_role_in_its_subtree(
    client: TestClient[Any, Any], stations: Stations, clock: Clock
) -> None:
    people = stations.scene
    slug = {A: "ca-xa-ea-pok", B: "ca-xa-cu-hue"}
    secret = {A: ("Công an Xã Ea Pốk", "Bot Ea Pốk"), B: ("Công an Xã Cư Huê", "OA Cư Huê")}
    secrets: dict[int, str] = {}
    problems: list[str] = []

    def check(cell: str, got: int, wanted: int, html: str, role: str) -> None:
        if got != wanted:
            problems.append(f"{cell}: {got}, expected {wanted}")
        for other in (A, B):
            if other not in SEES[role] and any(word in unescape(html) for word in secret[other]):
                problems.append(f"{cell} shows commune {other}")

    for role in ROLES:
        browser = await signed_in(client, getattr(people, role), clock, secrets)
        listing = await browser.get("/admin/pages")
        html = await listing.text()
        check(f"{role} GET /admin/pages", listing.status, 200, html, role)
        token = csrf_of(html)
        for place in (A, B):
            ok = place in SEES[role]
            admin = role == "admin"
            response = await browser.get(f"/admin/pages/{slug[place]}")
            check(
                f"{role} GET {slug[place]}",
                response.status,
                200 if ok else 404,
                await response.text(),
                role,
            )
            added = await browser.post(
                f"/admin/pages/{slug[place]}/accounts",
                {
                    "csrf": token,
                    "kind": "telegram",
                    "name": f"Bot {role} {place}",
                    "telegram.token": TOKEN,
                },
            )
            wanted = (303 if ok else 404) if admin else 403
            check(f"{role} POST accounts {place}", added.status, wanted, await added.text(), role)
            if await ChannelAccount.exists(name=f"Bot {role} {place}") is not (admin and ok):
                problems.append(f"{role} adding to {place}: wrong outcome")
            attached = await browser.post(
                f"/admin/pages/{slug[place]}/attach",
                {"csrf": token, "account": str(stations.spare.id)},
            )
            check(
                f"{role} POST attach {place}", attached.status, wanted, await attached.text(), role
            )
        response = await browser.get("/admin/pages/no-such-page")
        check(f"{role} GET unknown page", response.status, 404, await response.text(), role)
    carried = set(
        await PageChannel.filter(channel_account_id=stations.spare.id).values_list(
            "page_id", flat=True
        )
    )
    assert carried == {stations.page_a.id, stations.page_b.id}  # the admin's two attaches only

    anonymous = Browser(client)
    response = await anonymous.get("/admin/pages/ca-xa-ea-pok")
    assert response.status == 303
    for path in ("/admin/pages/ca-xa-ea-pok/accounts", "/admin/pages/ca-xa-ea-pok/attach"):
        refused = await anonymous.post(
            path,
            {
                "kind": "telegram",
                "name": "x",
                "telegram.token": TOKEN,
                "account": stations.spare.id,
            },
        )
        if refused.status != 403:
            problems.append(f"anonymous POST {path}: {refused.status}")
    assert problems == []


async def test_every_pages_write_refuses_a_missing_csrf_token(
    client: TestClient[Any, Any], stations: Stations, clock: Clock
) -> None:
    admin = await signed_in(client, stations.scene.admin, clock, {})
    token = csrf_of(await (await admin.get("/admin/pages")).text())
    writes: tuple[tuple[str, dict[str, Any]], ...] = (
        (
            "/admin/pages/ca-xa-ea-pok/accounts",
            {"kind": "telegram", "name": "Không mã", "telegram.token": TOKEN},
        ),
        ("/admin/pages/ca-xa-ea-pok/attach", {"account": str(stations.spare.id)}),
    )
    for path, data in writes:
        assert (await admin.post(path, data)).status == 403, path
        assert (await admin.post(path, {**data, "csrf": "forged"})).status == 403, path
        assert (
            await admin.post(path, {**data, "csrf": token}, origin="http://evil")
        ).status == 403, path
    assert not await ChannelAccount.exists(name="Không mã")
    assert not await PageChannel.exists(channel_account_id=stations.spare.id)
