"""The web chat through the real app: the page offers it, a message goes in over HTTP, the
reply comes back live on the event stream, a resend on a bad connection is stored once, a
reconnect resumes after the last reply seen, and cross-site or malformed posts are refused.
Also: a Telegram account without a public URL is polled and answered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    InboundEvent,
    Page,
    ReceiveMode,
    Unit,
    UnitLevel,
)
from communepol.services.channels import carry_page, create_channel_account
from communepol.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.fakes.telegram import FakeTelegram

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
KEYRING = Keyring(TEST_SECRET_KEY)


async def _page_with_chat() -> tuple[Page, ChannelAccount]:
    unit = await Unit.create(
        code="99001", level=UnitLevel.COMMUNE, kind="Xã", name="Xã Ea Kar", name_folded="xa ea kar"
    )
    page = await Page.create(unit=unit, slug="ca-xa-ea-kar", title="Công an xã Ea Kar")
    account = await create_channel_account(KEYRING, kind=ChannelKind.WEBCHAT, name="Web chat")
    await carry_page(account, page)
    return page, account


async def _next_event(stream: Any) -> dict[str, Any]:
    """The next server-sent event (skipping keep-alives), as its id and parsed data."""
    event: dict[str, Any] = {}
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), 10)).decode().rstrip("\n")
        if line.startswith("id: "):
            event["id"] = int(line[4:])
        elif line.startswith("data: "):
            event["data"] = json.loads(line[6:])
        elif line == "" and "data" in event:
            return event


async def test_a_visitor_chats_on_the_page_and_gets_live_replies(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings))
    page, account = await _page_with_chat()
    html = await (await client.get(f"/p/{page.slug}")).text()
    assert f'data-account="{account.id}"' in html
    assert "Nhắn tin cho công an xã" in html  # Vietnamese by default

    url = f"/chat/{account.id}/messages"
    first = await client.post(url, json={"id": "c-00000001", "text": "/start ca-xa-ea-kar"})
    assert first.status == 202
    cookie = first.cookies["cp_chat"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    again = await client.post(url, json={"id": "c-00000001", "text": "/start ca-xa-ea-kar"})
    assert again.status == 202  # a resend after a lost answer: stored once
    assert await InboundEvent.filter(channel_account_id=account.id).count() == 1

    stream = await client.get(f"/chat/{account.id}/events")
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    greeting = await _next_event(stream)
    assert "Bạn muốn dùng ngôn ngữ nào?" in greeting["data"]["text"]
    [[_, english]] = greeting["data"]["buttons"]
    await client.post(url, json={"id": "c-00000002", "action": english["action"]})
    chosen = await _next_event(stream)
    assert chosen["data"]["text"] == "Language set: English."
    stream.close()

    # Reconnecting with the last id seen resumes after it: nothing twice, nothing lost.
    resumed = await client.get(
        f"/chat/{account.id}/events", headers={"Last-Event-ID": str(chosen["id"])}
    )
    rest = await _next_event(resumed)
    assert rest["id"] > chosen["id"]
    assert "You can write to us here at any time." in rest["data"]["text"]
    resumed.close()


async def test_cross_site_malformed_and_unknown_chat_posts_are_refused(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings))
    _, account = await _page_with_chat()
    url = f"/chat/{account.id}/messages"
    evil = await client.post(
        url, json={"id": "c-00000001", "text": "hi"}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status == 403
    assert (await client.post(url, data="hi", headers={"Content-Type": "text/plain"})).status == 400
    assert (await client.post(url, json={"id": "x", "text": "hi"})).status == 400
    assert (await client.post(url, json={"id": "c-00000002", "text": "   "})).status == 400
    too_long = {"id": "c-00000003", "text": "a" * 4001}
    assert (await client.post(url, json=too_long)).status == 400
    unknown = await client.post("/chat/999/messages", json={"id": "c-1234567", "text": "hi"})
    assert unknown.status == 404
    assert (await client.get(f"/chat/{account.id}/events")).status == 404  # no visitor yet
    assert await InboundEvent.all().count() == 0
    # Lone surrogates and NUL cannot be stored as UTF-8: they are dropped, never a 500.
    odd = await client.post(
        url,
        data=b'{"id": "c-00000004", "text": "a\\ud800b\\u0000c"}',
        headers={"Content-Type": "application/json"},
    )
    assert odd.status == 202
    assert await InboundEvent.all().count() == 1


async def test_a_station_without_a_public_url_is_polled(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    async with FakeTelegram() as fake:
        configured = Settings(
            secret_key=settings.secret_key,
            database_url=settings.database_url,
            data_dir=settings.data_dir,
            telegram_api_base=fake.base_url,
        )
        await aiohttp_client(create_app(configured))
        account = await create_channel_account(
            KEYRING, kind=ChannelKind.TELEGRAM, name="polled", secrets={"token": "42:POLL"}
        )
        await ChannelAccount.filter(id=account.id).update(receive_mode=ReceiveMode.POLLING)
        fake.push_update(FakeTelegram.text_update(1, 777, "/start"))
        for _ in range(200):
            if fake.sent_texts(777):
                break
            await asyncio.sleep(0.05)
        assert "Bạn muốn dùng ngôn ngữ nào?" in fake.sent_texts(777)[0]
        # The update was confirmed only after it was stored: the next poll asks past it.
        offsets = [c.params.get("offset") for c in fake.calls_to("getUpdates")]
        assert "2" in [str(o) for o in offsets]
