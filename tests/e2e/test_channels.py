"""The whole bot channel, end to end, on every platform: a webhook (or the web chat) stores
the event, the inbox worker runs the resident conversation, the dispatcher sends the replies
through the platform's fake server. The same conversation must pass on Telegram, Zalo OA,
Zalo Bot and the web chat; webhooks must answer 401/400/404/413 without storing anything and
never 500, whatever they are sent."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from communepol.db.models import Delivery, DeliveryStatus, InboundEvent
from tests.e2e.conftest import TG_SECRET, ZB_SECRET, Platforms, eventually
from tests.fakes import zalo_bot as zb
from tests.fakes.telegram import FakeTelegram


class Resident:
    """One resident on one platform: ``send`` a text, ``press`` the n-th offered button,
    ``replies`` what the platform delivered to them."""

    def __init__(self, p: Platforms, platform: str) -> None:
        self.p = p
        self.platform = platform
        self.account = p.accounts[platform]
        self.counter = 0
        self.last_buttons: list[dict[str, Any]] = []
        self.web_replies: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        self.counter += 1
        n = self.counter
        c = self.p.client
        if self.platform == "telegram":
            update = FakeTelegram.text_update(1000 + n, 4242, text)
            r = await c.post(
                f"/webhooks/telegram/{self.account}",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
            )
        elif self.platform == "zalo-oa":
            body, headers = self.p.zalo_oa.signed(
                self.p.zalo_oa.text_event("6142494823000000001", text, msg_id=f"m{n}")
            )
            r = await c.post(f"/webhooks/zalo-oa/{self.account}", data=body, headers=headers)
        elif self.platform == "zalo-bot":
            update = zb.text_update(f"zm{n}", "e4ea2cd5189df1c3a88c", text)
            r = await c.post(
                f"/webhooks/zalo-bot/{self.account}",
                json=update,
                headers={"X-Bot-Api-Secret-Token": ZB_SECRET},
            )
        else:
            r = await c.post(
                f"/chat/{self.account}/messages", json={"id": f"client-{n:04d}", "text": text}
            )
        assert r.status in (200, 202), await r.text()

    async def press(self, number: int) -> None:
        """Press the ``number``-th (1-based) button of the last reply, the platform's way."""
        self.counter += 1
        n = self.counter
        c = self.p.client
        if self.platform == "telegram":
            action = self.last_buttons[number - 1]["callback_data"]
            update = FakeTelegram.callback_update(2000 + n, 4242, action)
            r = await c.post(
                f"/webhooks/telegram/{self.account}",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
            )
        elif self.platform == "zalo-oa":
            payload = self.last_buttons[number - 1]["payload"]
            body, headers = self.p.zalo_oa.signed(
                self.p.zalo_oa.text_event("6142494823000000001", payload, msg_id=f"b{n}")
            )
            r = await c.post(f"/webhooks/zalo-oa/{self.account}", data=body, headers=headers)
        elif self.platform == "zalo-bot":
            await self.send(str(number))  # no buttons on this platform: the number is typed
            return
        else:
            action = self.last_buttons[number - 1]["action"]
            r = await c.post(
                f"/chat/{self.account}/messages", json={"id": f"client-{n:04d}", "action": action}
            )
        assert r.status in (200, 202), await r.text()

    def _delivered(self) -> list[str]:
        if self.platform == "telegram":
            return self.p.telegram.sent_texts(4242)
        if self.platform == "zalo-oa":
            return self.p.zalo_oa.sent_texts("6142494823000000001")
        if self.platform == "zalo-bot":
            return self.p.zalo_bot.sent_texts("e4ea2cd5189df1c3a88c")
        return [r["text"] for r in self.web_replies]

    async def _web_poll(self) -> None:
        rows = await Delivery.filter(
            channel_account_id=self.account, status=DeliveryStatus.SENT
        ).order_by("id")
        self.web_replies = [row.payload for row in rows]

    async def replies_after(self, count: int) -> list[str]:
        """Wait until more than ``count`` messages were delivered; all of them."""

        async def more() -> list[str] | None:
            if self.platform == "webchat":
                await self._web_poll()
            texts = self._delivered()
            return texts if len(texts) > count else None

        await eventually(more)

        async def all_sent() -> bool:  # the rest of this turn's replies (1 s apart per chat)
            waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
            return not await Delivery.filter(status__in=waiting).exists()

        await eventually(all_sent)
        await asyncio.sleep(0.1)  # the fake records a send just after answering it
        if self.platform == "webchat":
            await self._web_poll()
        self._remember_buttons()
        return self._delivered()

    def _remember_buttons(self) -> None:
        if self.platform == "telegram":
            for call in reversed(self.p.telegram.delivered):
                markup = call.params.get("reply_markup") or {}
                if "inline_keyboard" in markup:
                    self.last_buttons = [b for row in markup["inline_keyboard"] for b in row]
                    return
        elif self.platform == "zalo-oa":
            for message in reversed(self.p.zalo_oa.sent):
                if message.buttons:
                    self.last_buttons = message.buttons
                    return
        elif self.platform == "webchat":
            for reply in reversed(self.web_replies):
                if reply.get("buttons"):
                    self.last_buttons = [b for row in reply["buttons"] for b in row]
                    return


@pytest.mark.parametrize("platform", ["telegram", "zalo-oa", "zalo-bot", "webchat"])
async def test_the_same_resident_conversation_on_every_platform(
    platforms: Platforms, platform: str
) -> None:
    resident = Resident(platforms, platform)
    await resident.send("/start")
    texts = await resident.replies_after(0)
    assert "Bạn muốn dùng ngôn ngữ nào?" in texts[-1]
    if platform == "zalo-bot":
        assert "1. Tiếng Việt" in texts[-1] and "2. English" in texts[-1]
    await resident.press(2)  # English
    texts = await resident.replies_after(len(texts))
    assert any("Language set: English." in t for t in texts)
    assert "You can write to us here at any time." in texts[-1]
    count = len(texts)
    await resident.send("what is this?")  # outside any conversation: offered as a tip
    texts = await resident.replies_after(count)
    assert any("Would you like to send this to the commune police?" in t for t in texts[count:])
    count = len(texts)
    await resident.send("/nosuchcommand")
    texts = await resident.replies_after(count)
    assert any("Sorry, I did not understand that." in t for t in texts[count:])
    count = len(texts)
    await resident.send("GIÚP")  # a keyword, folded: case and diacritics do not matter
    texts = await resident.replies_after(count)
    assert "You can write to us here at any time." in texts[-1]
    metrics = await (await platforms.client.get("/metrics")).text()
    kind = platform.replace("-", "_")
    assert (
        f'communepol_deliveries_total{{channel="{kind}",outcome="sent"}} {len(texts)}.0' in metrics
    )
    assert 'communepol_inbound_events_total{outcome="done"} 5.0' in metrics


async def test_a_replayed_or_concurrent_duplicate_is_stored_and_answered_once(
    platforms: Platforms,
) -> None:
    account = platforms.accounts["telegram"]
    update = FakeTelegram.text_update(555, 4242, "/start")
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    url = f"/webhooks/telegram/{account}"
    responses = await asyncio.gather(
        *(platforms.client.post(url, json=update, headers=headers) for _ in range(5))
    )
    responses.append(await platforms.client.post(url, json=update, headers=headers))
    assert [r.status for r in responses] == [200] * 6
    assert await InboundEvent.filter(channel_account_id=account).count() == 1
    await eventually(lambda: platforms.telegram.sent_texts(4242))
    await asyncio.sleep(0.5)
    assert len(platforms.telegram.sent_texts(4242)) == 1


@pytest.mark.parametrize(
    ("platform", "headers"),
    [
        ("telegram", {}),
        ("telegram", {"X-Telegram-Bot-Api-Secret-Token": "wrong"}),
        ("telegram", {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET.upper()}),
        ("zalo-bot", {"X-Bot-Api-Secret-Token": "wrong-secret-123"}),
        ("zalo-oa", {"X-ZEvent-Signature": "mac=" + "0" * 64}),
    ],
)
async def test_a_wrong_secret_or_signature_is_refused_and_nothing_stored(
    platforms: Platforms, platform: str, headers: dict[str, str]
) -> None:
    account = platforms.accounts[platform]
    if platform == "zalo-oa":
        body, _ = platforms.zalo_oa.signed(platforms.zalo_oa.text_event("61424", "hi", msg_id="x1"))
    else:
        body = json.dumps(
            FakeTelegram.text_update(9, 9, "hi")
            if platform == "telegram"
            else zb.text_update("z1", "u1", "hi")
        ).encode()
    response = await platforms.client.post(
        f"/webhooks/{platform}/{account}", data=body, headers=headers
    )
    assert response.status == 401
    assert "Traceback" not in await response.text()
    assert await InboundEvent.all().count() == 0


async def test_a_zalo_oa_body_changed_after_signing_is_refused(platforms: Platforms) -> None:
    account = platforms.accounts["zalo-oa"]
    body, headers = platforms.zalo_oa.signed(
        platforms.zalo_oa.text_event("61424", "hi", msg_id="x2")
    )
    tampered = body.replace(b'"hi"', b'"ho"')
    response = await platforms.client.post(
        f"/webhooks/zalo-oa/{account}", data=tampered, headers=headers
    )
    assert response.status == 401
    assert await InboundEvent.all().count() == 0


async def test_oversized_unknown_and_mismatched_webhooks(platforms: Platforms) -> None:
    c = platforms.client
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    big = b'{"update_id": 1, "pad": "' + b"x" * (300 * 1024) + b'"}'
    assert (
        await c.post(
            f"/webhooks/telegram/{platforms.accounts['telegram']}", data=big, headers=headers
        )
    ).status == 413
    assert (await c.post("/webhooks/telegram/999999", json={}, headers=headers)).status == 404
    assert (
        await c.post(
            f"/webhooks/zalo-bot/{platforms.accounts['telegram']}", json={}, headers=headers
        )
    ).status == 404
    assert (await c.post("/webhooks/whatsapp/1", json={})).status == 404
    assert (await c.get(f"/webhooks/telegram/{platforms.accounts['telegram']}")).status == 405
    assert await InboundEvent.all().count() == 0


async def test_an_endless_chunked_body_is_cut_off_with_413(platforms: Platforms) -> None:
    sent = 0

    async def flood() -> AsyncIterator[bytes]:  # no Content-Length: chunked, 50 MiB offered
        nonlocal sent
        yield b'{"update_id": 1, "pad": "'
        for _ in range(800):
            sent += 65536
            yield b"x" * 65536

    response = await platforms.client.post(
        f"/webhooks/telegram/{platforms.accounts['telegram']}",
        data=flood(),
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
    )
    assert response.status == 413
    assert sent < 50 * 1024 * 1024  # refused long before the end
    assert await InboundEvent.all().count() == 0


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_shaped = st.fixed_dictionaries(
    {"update_id": st.integers() | st.text(max_size=5), "event_name": st.text(max_size=30)},
    optional={
        "message": _json,
        "callback_query": _json,
        "sender": _json,
        "timestamp": _json,
        "app_id": _json,
    },
)


@pytest.mark.parametrize("platform", ["telegram", "zalo-bot"])
@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=300)
    | _json.map(lambda v: json.dumps(v).encode())
    | _shaped.map(lambda v: json.dumps(v).encode())
)
async def test_whatever_a_webhook_is_sent_it_never_answers_500(
    platforms: Platforms, platform: str, body: bytes
) -> None:
    headers = (
        {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        if platform == "telegram"
        else {"X-Bot-Api-Secret-Token": ZB_SECRET}
    )
    response = await platforms.client.post(
        f"/webhooks/{platform}/{platforms.accounts[platform]}", data=body, headers=headers
    )
    assert response.status in (200, 400)


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=_shaped | _json)
async def test_a_signed_zalo_oa_event_of_any_shape_never_answers_500(
    platforms: Platforms, event: Any
) -> None:
    fake = platforms.zalo_oa
    if isinstance(event, dict):
        event = {**event, "app_id": fake.app_id, "timestamp": str(int(time.time() * 1000))}
        body, headers = fake.signed(event)
    else:
        body, headers = json.dumps(event).encode(), {"X-ZEvent-Signature": "mac=00"}
    response = await platforms.client.post(
        f"/webhooks/zalo-oa/{platforms.accounts['zalo-oa']}", data=body, headers=headers
    )
    assert response.status in (200, 400, 401)
