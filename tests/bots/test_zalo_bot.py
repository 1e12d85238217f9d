"""The Zalo Bot API adapter against real update JSON and the fake Zalo Bot API server."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from bots.zalo_bot import ZaloBotChannel, parse_update
from communepol.errors import ValidationError
from communepol.ports import (
    AccountRefused,
    Button,
    ButtonKind,
    Channel,
    InboundEvent,
    InboundKind,
    Media,
    MediaKind,
    OutboundMessage,
    PermanentSendError,
    Pollable,
    Recipient,
    RetryAfter,
    SendError,
    SendPurpose,
    TransientSendError,
    Unreachable,
    WebhookRejected,
    WebhookRequest,
)
from tests.fakes.base import Fault
from tests.fakes.zalo_bot import (
    DEFAULT_DATE_MS,
    FakeZaloBot,
    body,
    image_update,
    sticker_update,
    text_update,
    unsupported_update,
    wrapped,
)

TOKEN = "1234567890:SENTINEL-bot-token"
SECRET = "SENTINEL-hook-secret"
USER = "e4ea2cd5189df1c3a88c"
GROUP = "9f0c1d2e3b4a59687766"
SECRETS = {"token": TOKEN, "webhook_secret": SECRET}
REPLY = SendPurpose.REPLY


def make_channel(api_base: str = "http://127.0.0.1:9", **kwargs: Any) -> ZaloBotChannel:
    return ZaloBotChannel(7, SECRETS, api_base=api_base, **kwargs)


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloBot]:
    async with FakeZaloBot(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeZaloBot) -> AsyncIterator[ZaloBotChannel]:
    channel = make_channel(fake.base_url, request_timeout=2.0)
    yield channel
    await channel.close()


def assert_safe(err: BaseException) -> None:
    """Error messages are stored and shown: no token, secret, user id or message text."""
    text = str(err)
    for secret in ("SENTINEL", USER, GROUP, "Xin chào"):
        assert secret not in text
    assert err.__cause__ is None


# -- construction -----------------------------------------------------------------------


def test_the_adapter_implements_the_ports() -> None:
    channel = make_channel()
    assert isinstance(channel, Channel) and isinstance(channel, Pollable)
    assert channel.supports_buttons is False and channel.max_text_length == 2000
    assert "SENTINEL" not in repr(channel)


@pytest.mark.parametrize(
    "secrets",
    [
        {"webhook_secret": SECRET},
        {"token": "no-colon-here", "webhook_secret": SECRET},
        {"token": "123:has space", "webhook_secret": SECRET},
        {"token": "123:has/slash", "webhook_secret": SECRET},
        {"token": ":secret", "webhook_secret": SECRET},
        {"token": 123456, "webhook_secret": SECRET},
        {"token": TOKEN},
        {"token": TOKEN, "webhook_secret": "short"},
        {"token": TOKEN, "webhook_secret": "x" * 257},
        {"token": TOKEN, "webhook_secret": "has spaces in it"},
    ],
)
def test_bad_or_missing_secrets_are_refused_without_echoing_them(secrets: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        ZaloBotChannel(7, secrets, api_base="http://127.0.0.1:9")
    assert_safe(caught.value)
    assert "has space" not in str(caught.value)


# -- verify -----------------------------------------------------------------------------


def test_the_right_secret_passes_whatever_the_header_case() -> None:
    channel = make_channel()
    channel.verify(WebhookRequest(headers={"X-Bot-Api-Secret-Token": SECRET}, body=b"{}"))
    channel.verify(WebhookRequest(headers={"x-bot-api-secret-token": SECRET}, body=b"{}"))
    headers = CIMultiDict({"X-BOT-API-SECRET-TOKEN": SECRET})
    channel.verify(WebhookRequest(headers=headers, body=b"{}"))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET},
        {"X-Bot-Api-Secret-Token": ""},
        {"X-Bot-Api-Secret-Token": SECRET + "x"},
        {"X-Bot-Api-Secret-Token": SECRET[:-1]},
        {"X-Bot-Api-Secret-Token": "wrong-but-long-enough"},
        {"X-Bot-Api-Secret-Token": "SENTINEL-hook-secre\udcff"},
        {"X-Bot-Api-Secret-Token": "SENTINEL-hook-secrét"},
    ],
)
def test_a_missing_or_wrong_secret_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        make_channel().verify(WebhookRequest(headers=headers, body=b"{}"))
    assert caught.value.http_status == 401
    assert_safe(caught.value)


# -- parse ------------------------------------------------------------------------------


def parse(update: dict[str, Any]) -> InboundEvent:
    events = make_channel().parse(body(update))
    assert len(events) == 1
    return events[0]


def test_a_text_message_in_both_body_shapes() -> None:
    update = text_update("16f6366b3f02645a3d15", USER, "Xin chào")
    event = parse(update)
    assert event == parse(wrapped(update))
    assert event.kind is InboundKind.TEXT
    assert event.text == "Xin chào"
    assert event.event_id == event.message_id == "16f6366b3f02645a3d15"
    assert event.chat_id == USER and not event.is_group
    assert event.sender is not None
    assert event.sender.platform_user_id == USER
    assert event.sender.display_name == "Nguyen Van A"
    assert event.occurred_at == datetime.fromtimestamp(DEFAULT_DATE_MS / 1000, tz=UTC)


@pytest.mark.parametrize("name_field", ["first_name", "display_name", "name"])
def test_every_sender_name_variant_is_read(name_field: str) -> None:
    event = parse(text_update("m1", USER, "hi", name="Trần Thị B", name_field=name_field))
    assert event.sender is not None and event.sender.display_name == "Trần Thị B"


def test_first_name_wins_and_odd_names_are_dropped() -> None:
    update = text_update("m1", USER, "hi", name="Lê C", name_field="display_name")
    update["message"]["from"]["first_name"] = "Lê Văn C"
    assert parse(update).sender == parse(update).sender
    assert parse(update).sender.display_name == "Lê Văn C"  # type: ignore[union-attr]
    update["message"]["from"] = {"id": USER, "first_name": 42, "name": ""}
    sender = parse(update).sender
    assert sender is not None and sender.display_name is None


def test_text_is_nfc_and_keeps_its_line_breaks() -> None:
    nfd = unicodedata.normalize("NFD", "Nhà tôi ở\r\nthôn 3, xã Ea Kpam  ")
    event = parse(text_update("m1", USER, nfd))
    assert event.text == "Nhà tôi ở\nthôn 3, xã Ea Kpam"
    assert unicodedata.is_normalized("NFC", event.text or "")


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("/start page-12", "start", "page-12"),
        ("/START", "start", ""),
        ("/Duty   on", "duty", "on"),
        ("/tip\nCó người lạ ở thôn 3", "tip", "Có người lạ ở thôn 3"),
    ],
)
def test_slash_commands(text: str, command: str, args: str) -> None:
    event = parse(text_update("m1", USER, text))
    assert event.kind is InboundKind.COMMAND
    assert (event.command, event.args) == (command, args)


@pytest.mark.parametrize("text", ["/", "/ start", "a/start", "2"])
def test_texts_that_are_not_commands(text: str) -> None:
    event = parse(text_update("m1", USER, text))
    assert event.kind is InboundKind.TEXT and event.command is None


@pytest.mark.parametrize("photo_field", ["photo_url", "photo", "url"])
def test_every_photo_field_variant_is_read(photo_field: str) -> None:
    update = image_update("m2", USER, "https://p.example/a.jpg", photo_field=photo_field)
    event = parse(update)
    assert event.kind is InboundKind.MEDIA
    assert event.media == (Media(kind=MediaKind.PHOTO, ref="https://p.example/a.jpg"),)
    assert event.text is None


def test_photo_url_wins_and_the_caption_becomes_text() -> None:
    update = image_update("m2", USER, "https://p.example/a.jpg", caption="Biển số  xe\n")
    update["message"]["photo"] = "https://p.example/other.jpg"
    event = parse(update)
    assert event.media[0].ref == "https://p.example/a.jpg"
    assert event.text == event.media[0].caption == "Biển số  xe"


def test_a_sticker_and_the_events_the_service_does_not_use() -> None:
    sticker = parse(sticker_update("m3", USER, "bfe4f4a5a8e041be18f1"))
    assert sticker.kind is InboundKind.MEDIA
    assert sticker.media == (Media(kind=MediaKind.STICKER, ref="bfe4f4a5a8e041be18f1"),)
    bare = sticker_update("m3", USER, "", url="https://s.example/1.webp")
    assert parse(bare).media[0].ref == "https://s.example/1.webp"

    unsupported = parse(unsupported_update("m4", USER))
    assert unsupported.kind is InboundKind.IGNORED and unsupported.event_id == "m4"
    assert unsupported.chat_id == USER

    unknown = {"event_name": "message.reaction.received", "message": {"message_id": "m5"}}
    assert parse(unknown).kind is InboundKind.IGNORED


def test_group_and_private_chats() -> None:
    group = parse(text_update("m6", USER, "hi", chat_id=GROUP, chat_type="GROUP"))
    assert group.is_group and group.chat_id == GROUP
    assert group.sender is not None and group.sender.platform_user_id == USER
    private = parse(text_update("m7", USER, "hi", chat_type="PRIVATE"))
    assert not private.is_group and private.chat_id == USER


def test_a_private_message_without_from_is_the_chat_person() -> None:
    update = text_update("m8", USER, "hi")
    del update["message"]["from"]
    sender = parse(update).sender
    assert sender is not None and sender.platform_user_id == USER


def test_an_event_without_message_id_gets_a_stable_composite_id() -> None:
    update = text_update("m9", USER, "hi")
    del update["message"]["message_id"]
    event = parse(update)
    assert event.event_id == f"message.text.received:{USER}:{DEFAULT_DATE_MS}"
    assert event.message_id is None
    update["message"]["date"] = 10**400
    long_id = parse(update).event_id
    assert long_id.startswith("h:") and len(long_id) <= 128
    assert parse(update).occurred_at is None


MALFORMED = [
    b"\xff\xfe",
    b"not json",
    b"",
    b"[]",
    b'"text"',
    b"{}",
    b'{"event_name":"message.text.received"}',
    b'{"event_name":"message.text.received","message":"hi"}',
    b'{"event_name":42,"message":{}}',
    b'{"ok":false,"result":{"event_name":"x","message":{}}}',
    b'{"ok":true,"result":[1]}',
    b'{"event_name":"message.text.received","message":{"chat":{"id":"c","chat_type":"GROUP"},'
    b'"text":"hi"}}',
    b'{"event_name":"message.text.received","message":{"from":{"id":"u"},"text":"hi"}}',
    b'{"event_name":"message.text.received","message":{"chat":{"id":"c"},"from":{"id":"c"}}}',
    b'{"event_name":"message.text.received","message":{"chat":{"id":"c"},"text":7}}',
    b'{"event_name":"message.text.received","message":{"chat":{"id":["c"]},"text":"hi"}}',
    b'{"event_name":"message.text.received","message":{"chat":{"id":"c"},"text":"\\ud800"}}',
    b'{"event_name":"message.text.received","message":{"chat":{"id":"c"},"text":"a\\u0000"}}',
    b'{"event_name":"message.image.received","message":{"chat":{"id":"c"},"photo":{"u":1}}}',
    b'{"event_name":"message.sticker.received","message":{"chat":{"id":"c"}}}',
    b'{"event_name":"x","message":{"message_id":true}}',
    b'{"event_name":"x","message":{"date":[1]}}',
    b'{"event_name":"x","message":{"chat":"c"}}',
    b'{"event_name":"x","message":{"chat":{"chat_type":1}}}',
    b'{"event_name":"x","message":{"from":7}}',
    ("[" * 100_000).encode(),
    b'{"event_name":"x","message":{"message_id":"' + b"1" * 200 + b'"}}',
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_bodies_raise_validation_error_only(raw: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        make_channel().parse(raw)
    assert_safe(caught.value)


def test_parse_update_takes_a_dict() -> None:
    update = text_update("m1", USER, "hi")
    assert parse_update(update) == parse_update(wrapped(update)) == parse(update)


# -- properties: any input is events or ValidationError, nothing else ---------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
IDS = st.text(max_size=12) | st.integers() | JSON_VALUES
PERSON = st.fixed_dictionaries(
    {},
    optional={
        "id": IDS,
        "chat_type": st.sampled_from(["GROUP", "PRIVATE", "group"]) | JSON_VALUES,
        "first_name": st.text(max_size=10) | JSON_VALUES,
        "display_name": st.text(max_size=10),
        "name": st.text(max_size=10),
        "is_bot": st.booleans(),
    },
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "message_id": IDS,
        "date": st.integers() | st.floats() | st.text(max_size=15) | JSON_VALUES,
        "chat": PERSON | JSON_VALUES,
        "from": PERSON | JSON_VALUES,
        "text": st.text() | JSON_VALUES,
        "photo_url": st.text(max_size=20) | JSON_VALUES,
        "photo": st.text(max_size=20) | JSON_VALUES,
        "url": st.text(max_size=20) | JSON_VALUES,
        "caption": st.text(max_size=20) | JSON_VALUES,
        "sticker": st.text(max_size=20) | JSON_VALUES,
    },
)
EVENT_NAMES = st.sampled_from(
    [
        "message.text.received",
        "message.image.received",
        "message.sticker.received",
        "message.unsupported.received",
    ]
) | st.text(max_size=80)
UPDATES = st.fixed_dictionaries({"event_name": EVENT_NAMES, "message": MESSAGE | JSON_VALUES})
# Mostly well-formed updates, so the accepting paths (text, commands, media) are explored too.
SOME_ID = st.text(min_size=1, max_size=20) | st.integers()
NEAR_VALID = st.fixed_dictionaries(
    {
        "event_name": EVENT_NAMES,
        "message": st.fixed_dictionaries(
            {
                "chat": st.fixed_dictionaries(
                    {"id": SOME_ID}, optional={"chat_type": st.sampled_from(["GROUP", "PRIVATE"])}
                ),
                "from": st.fixed_dictionaries(
                    {"id": SOME_ID},
                    optional={"display_name": st.text(), "first_name": st.text()},
                ),
                "text": st.text() | st.text().map(lambda t: "/" + t),
            },
            optional={
                "message_id": SOME_ID,
                "date": st.integers() | st.floats() | st.text(max_size=15),
                "photo_url": st.text(max_size=30),
                "photo": st.text(max_size=30),
                "caption": st.text(),
                "sticker": st.text(max_size=30),
            },
        ),
    }
)
BODIES = UPDATES | NEAR_VALID | st.builds(wrapped, UPDATES | NEAR_VALID) | JSON_VALUES


def parse_or_refuse(raw: bytes) -> None:
    try:
        events = make_channel().parse(raw)
    except ValidationError as err:
        assert_safe(err)
        return
    for event in events:
        assert 0 < len(event.event_id) <= 128
        assert InboundEvent.from_json(event.to_json()) == event
        event.to_json().encode("utf-8")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_validation_error(raw: bytes) -> None:
    parse_or_refuse(raw)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
def test_any_json_parses_or_raises_validation_error(value: Any) -> None:
    parse_or_refuse(json.dumps(value).encode())


# -- send -------------------------------------------------------------------------------


async def test_options_are_numbered_on_the_wire(bot: ZaloBotChannel, fake: FakeZaloBot) -> None:
    message = OutboundMessage(
        text="Bạn muốn báo gì?",
        buttons=(
            (Button("Tin báo", "tip:new"), Button("Hỏi thủ tục", "ask:new")),
            (Button("Gửi vị trí", kind=ButtonKind.LOCATION),),
            (Button("Trang xã", "https://xa.example/", kind=ButtonKind.URL),),
        ),
    )
    result = await bot.send(Recipient(chat_id=USER), message, REPLY)
    assert fake.sent_texts(USER) == [
        "Bạn muốn báo gì?\n1. Tin báo\n2. Hỏi thủ tục\nTrang xã: https://xa.example/"
    ]
    assert result.platform_message_ids == (fake.sent[0].message_id,)
    (call,) = fake.calls_to("sendMessage")
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.params["_token"] == TOKEN


async def test_long_vietnamese_text_is_split_into_parts(
    bot: ZaloBotChannel, fake: FakeZaloBot
) -> None:
    sentence = "Công an xã Ea Kpam đề nghị bà con cảnh giác với lừa đảo qua điện thoại. "
    text = (sentence * 70)[:4500].strip()
    assert len(text) > 4400
    result = await bot.send(Recipient(chat_id=USER), OutboundMessage(text=text), REPLY)
    parts = fake.sent_texts(USER)
    assert len(parts) == 3 and len(result.platform_message_ids) == 3
    assert all(0 < len(part) <= 2000 for part in parts)
    assert re.sub(r"\s+", " ", " ".join(parts)) == re.sub(r"\s+", " ", text)


async def test_emoji_heavy_text_fits_in_utf16_units(bot: ZaloBotChannel, fake: FakeZaloBot) -> None:
    await bot.send(Recipient(chat_id=USER), OutboundMessage(text="🚨" * 1500), REPLY)
    parts = fake.sent_texts(USER)
    assert "".join(parts) == "🚨" * 1500
    assert all(len(part.encode("utf-16-le")) // 2 <= 2000 for part in parts)


async def test_a_photo_with_its_caption(bot: ZaloBotChannel, fake: FakeZaloBot) -> None:
    photo = Media(kind=MediaKind.PHOTO, ref="https://xa.example/wanted.jpg")
    message = OutboundMessage(text="Truy tìm đối tượng", media=photo)
    result = await bot.send(Recipient(chat_id=USER), message, SendPurpose.ALERT)
    (sent,) = fake.sent
    assert (sent.method, sent.photo, sent.caption) == (
        "sendPhoto",
        "https://xa.example/wanted.jpg",
        "Truy tìm đối tượng",
    )
    assert result.platform_message_ids == (sent.message_id,)


async def test_a_photo_with_a_long_text_sends_the_rest_after_it(
    bot: ZaloBotChannel, fake: FakeZaloBot
) -> None:
    photo = Media(kind=MediaKind.PHOTO, ref="https://xa.example/p.jpg", caption="unused")
    text = "Thông báo. " * 300
    await bot.send(Recipient(chat_id=USER), OutboundMessage(text=text, media=photo), REPLY)
    assert [s.method for s in fake.sent] == ["sendPhoto", "sendMessage"]
    assert len(fake.sent[0].caption or "") <= 2000
    bare = OutboundMessage(text="", media=Media(kind=MediaKind.PHOTO, ref="https://x/p.jpg"))
    await bot.send(Recipient(chat_id=USER), bare, REPLY)
    assert fake.sent[-1].method == "sendPhoto" and fake.sent[-1].caption is None


async def test_other_media_go_as_links_or_not_at_all(
    bot: ZaloBotChannel, fake: FakeZaloBot
) -> None:
    form = Media(kind=MediaKind.FILE, ref="https://xa.example/mau-ct01.pdf", name="Mẫu CT01")
    await bot.send(Recipient(chat_id=USER), OutboundMessage(text="Mẫu đơn", media=form), REPLY)
    assert fake.sent_texts(USER) == ["Mẫu đơn\nMẫu CT01: https://xa.example/mau-ct01.pdf"]
    voice = OutboundMessage(text="x", media=Media(kind=MediaKind.VOICE, ref="attachment-1"))
    with pytest.raises(PermanentSendError):
        await bot.send(Recipient(chat_id=USER), voice, REPLY)
    with pytest.raises(PermanentSendError):
        await bot.send(Recipient(chat_id=USER), OutboundMessage(text="  \n "), REPLY)
    sticker = Media(kind=MediaKind.STICKER, ref="bfe4f4a5a8e041be18f1")
    await bot.send(Recipient(chat_id=USER), OutboundMessage(text="", media=sticker), REPLY)
    assert fake.sent[-1].method == "sendSticker"


async def test_typing_and_reply_to(bot: ZaloBotChannel, fake: FakeZaloBot) -> None:
    await bot.send_typing(USER)
    assert fake.chat_actions == [(USER, "typing")]
    text = "Đã nhận. " * 400
    message = OutboundMessage(text=text, reply_to="16f6366b3f02645a3d15")
    await bot.send(Recipient(chat_id=USER), message, REPLY)
    assert [s.reply_to for s in fake.sent] == ["16f6366b3f02645a3d15", None]


# -- faults ------------------------------------------------------------------------------


async def send_hello(bot: ZaloBotChannel) -> None:
    await bot.send(Recipient(chat_id=USER), OutboundMessage(text="Xin chào"), REPLY)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.forbidden(), Unreachable),
        (Fault.bad_request(), PermanentSendError),
        (Fault.server_error(502), TransientSendError),
        (Fault.server_error(500), TransientSendError),
        (Fault.platform_error(401, "Unauthorized"), AccountRefused),
        (Fault.platform_error(404, "Not Found"), AccountRefused),
        (Fault.platform_error(403, "Forbidden"), Unreachable),
        (Fault.platform_error(400, "Bad Request"), PermanentSendError),
        (Fault.platform_error(-1, "Something"), TransientSendError),
    ],
)
async def test_platform_errors_map_to_send_errors(
    bot: ZaloBotChannel, fake: FakeZaloBot, fault: Fault, error: type[SendError]
) -> None:
    fake.fail_next(fault)
    with pytest.raises(error) as caught:
        await send_hello(bot)
    assert type(caught.value) is error
    assert_safe(caught.value)


async def test_rate_limits_say_how_long_to_wait(bot: ZaloBotChannel, fake: FakeZaloBot) -> None:
    fake.fail_next(Fault.rate_limited(2))
    with pytest.raises(RetryAfter) as caught:
        await send_hello(bot)
    assert caught.value.seconds == 2
    fake.fail_next(Fault.platform_error(429, "Too Many Requests"))
    with pytest.raises(RetryAfter) as caught:
        await send_hello(bot)
    assert caught.value.seconds == 1
    assert fake.sent == []


async def test_a_wrong_token_is_an_account_refusal(fake: FakeZaloBot) -> None:
    secrets = {"token": "1234567890:REVOKED", "webhook_secret": SECRET}
    channel = ZaloBotChannel(7, secrets, api_base=fake.base_url)
    try:
        with pytest.raises(AccountRefused) as caught:
            await send_hello(channel)
        assert "REVOKED" not in str(caught.value)
    finally:
        await channel.close()


async def test_slow_answers_time_out_as_transient(fake: FakeZaloBot) -> None:
    channel = make_channel(fake.base_url, request_timeout=0.2)
    fake.fail_next(Fault.slow(0.6))
    try:
        with pytest.raises(TransientSendError) as caught:
            await send_hello(channel)
        assert_safe(caught.value)
    finally:
        await channel.close()


async def test_an_unreachable_platform_is_transient() -> None:
    channel = make_channel("http://127.0.0.1:9", request_timeout=1.0)
    try:
        with pytest.raises(TransientSendError) as caught:
            await send_hello(channel)
        assert_safe(caught.value)
    finally:
        await channel.close()


async def serve(status: int, text: str, headers: dict[str, str] | None = None) -> web.AppRunner:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, text=text, headers=headers)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def base_of(runner: web.AppRunner) -> str:
    (address,) = runner.addresses
    return f"http://127.0.0.1:{address[1]}"


@pytest.mark.parametrize(
    ("status", "text", "headers", "error"),
    [
        (200, "<html>proxy page</html>", None, TransientSendError),
        (502, "Bad Gateway", None, TransientSendError),
        (429, "slow down", {"Retry-After": "7"}, RetryAfter),
        (429, '{"ok":false,"error_code":429}', {"Retry-After": "5"}, RetryAfter),
        (200, '{"result":{"message_id":"1"}}', None, TransientSendError),
        (403, '{"ok":false,"description":"blocked"}', None, Unreachable),
        (404, '{"ok":false,"error_code":404}', None, AccountRefused),
    ],
)
async def test_odd_answers(
    status: int, text: str, headers: dict[str, str] | None, error: type[SendError]
) -> None:
    runner = await serve(status, text, headers)
    channel = make_channel(base_of(runner))
    try:
        with pytest.raises(error) as caught:
            await send_hello(channel)
        if headers:
            assert isinstance(caught.value, RetryAfter)
            assert caught.value.seconds == float(headers["Retry-After"])
    finally:
        await channel.close()
        await runner.cleanup()


async def test_close_is_idempotent_and_the_session_reopens(
    bot: ZaloBotChannel, fake: FakeZaloBot
) -> None:
    await send_hello(bot)
    await bot.close()
    await bot.close()
    await send_hello(bot)
    assert len(fake.sent) == 2


# -- webhook and polling ------------------------------------------------------------------


async def test_set_and_remove_the_webhook(bot: ZaloBotChannel, fake: FakeZaloBot) -> None:
    await bot.set_webhook("https://station.example/hooks/zalo-bot/7")
    assert fake.webhook_url == "https://station.example/hooks/zalo-bot/7"
    assert fake.webhook_secret == SECRET
    (call,) = fake.calls_to("setWebhook")
    assert call.params["secret_token"] == SECRET
    with pytest.raises(PermanentSendError):
        await bot.get_updates(None, 0)
    await bot.remove_webhook()
    assert fake.webhook_url == "" and fake.webhook_secret is None


async def test_get_updates_returns_one_update_per_call(
    bot: ZaloBotChannel, fake: FakeZaloBot
) -> None:
    fake.push_update(text_update("u1", USER, "Xin chào"))
    fake.push_update(image_update("u2", USER, "https://p.example/1.jpg"))
    first, offset = await bot.get_updates("keep-me", 1)
    assert [e.event_id for e in first] == ["u1"] and offset == "keep-me"
    second, offset = await bot.get_updates(offset, 1)
    assert [e.kind for e in second] == [InboundKind.MEDIA] and offset == "keep-me"
    assert fake.calls_to("getUpdates")[0].params["timeout"] == "1"
    empty, offset = await bot.get_updates(offset, 0)
    assert list(empty) == [] and offset == "keep-me"


async def test_a_408_in_either_form_means_no_updates(
    bot: ZaloBotChannel, fake: FakeZaloBot
) -> None:
    fake.fail_next(Fault.platform_error(408, "Request timeout"))
    assert await bot.get_updates(None, 5) == ([], None)


async def test_a_malformed_polled_update_is_kept_as_ignored(
    bot: ZaloBotChannel, fake: FakeZaloBot
) -> None:
    fake.push_update({"event_name": "message.text.received", "message": {"text": 5}})
    (event,), _ = await bot.get_updates(None, 1)
    assert event.kind is InboundKind.IGNORED and event.event_id.startswith("malformed:")
    fake.push_update(text_update("u3", USER, "ok"))
    (after,), _ = await bot.get_updates(None, 1)
    assert after.event_id == "u3"


async def test_polling_errors_are_send_errors(bot: ZaloBotChannel, fake: FakeZaloBot) -> None:
    fake.fail_next(Fault.server_error(502))
    with pytest.raises(TransientSendError):
        await bot.get_updates(None, 0)


# -- the fake itself ----------------------------------------------------------------------


async def test_the_fake_speaks_like_the_real_api(fake: FakeZaloBot) -> None:
    async with aiohttp.ClientSession() as session:

        async def call(method: str, payload: Any) -> tuple[int, dict[str, Any]]:
            url = f"{fake.base_url}/bot{TOKEN}/{method}"
            async with session.post(url, json=payload) as response:
                return response.status, await response.json()

        status, answer = await call("sendMessage", {"chat_id": USER, "text": "x" * 2001})
        assert (status, answer["ok"], answer["error_code"]) == (400, False, 400)
        status, answer = await call(
            "setWebhook", {"url": "https://a.example/", "secret_token": "x"}
        )
        assert status == 400
        status, answer = await call("getMe", {})
        assert answer["result"]["id"] == "1234567890"
        status, answer = await call("getWebhookInfo", {})
        assert answer == {"ok": True, "result": {"url": "", "updated_at": 0}}
        status, answer = await call("getUpdates", {"timeout": "0"})
        assert (status, answer["error_code"], answer["description"]) == (
            408,
            408,
            "Request timeout",
        )
        status, answer = await call("noSuchMethod", {})
        assert status == 404
        async with session.get(f"{fake.base_url}/_fake/stats") as response:
            stats = await response.json()
        assert stats["by_method"]["sendMessage"] == 1 and stats["sent"] == 0
