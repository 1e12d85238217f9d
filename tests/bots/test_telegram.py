"""The Telegram adapter against real update JSON and a fake Bot API server.

Parsing is fed the JSON Telegram posts (built by `tests.fakes.telegram`) and hostile input;
sending goes through aiogram's real client to `FakeTelegram`, and the assertions read what
arrived on the wire.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
import sys
import time
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.telegram import TelegramChannel, parse_update, split_utf16, utf16_length
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
from tests.fakes.telegram import (
    FakeTelegram,
    callback_update,
    location_update,
    my_chat_member_update,
    photo_update,
    text_update,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token_x"
SECRET = "s3cret-Webhook_secret"
USER = 5550001
GROUP = -1001234567890


def body(update: Any) -> bytes:
    return json.dumps(update, ensure_ascii=False).encode()


@functools.cache
def parser() -> TelegramChannel:
    """One channel for the parsing tests: parse is pure, and building a client costs ~10 ms."""
    return TelegramChannel(1, {"token": TOKEN, "webhook_secret": SECRET}, api_base="http://x")


def parse_one(update: Any) -> InboundEvent:
    events = parser().parse(body(update))
    assert len(events) == 1
    return events[0]


def message_update(content: dict[str, Any], *, update_id: int = 7) -> dict[str, Any]:
    update = text_update(update_id, USER, "x")
    del update["message"]["text"]
    update["message"].update(content)
    return update


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def channel(fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    adapter = TelegramChannel(
        7,
        {"token": TOKEN, "webhook_secret": SECRET},
        api_base=fake.base_url,
        request_timeout=2.0,
    )
    yield adapter
    await adapter.close()


async def send_text(channel: TelegramChannel, text: str, **kwargs: Any) -> tuple[str, ...]:
    result = await channel.send(
        Recipient(str(USER)), OutboundMessage(text, **kwargs), SendPurpose.REPLY
    )
    return result.platform_message_ids


# -- parse: the update shapes --------------------------------------------------------------


def test_text_message_becomes_a_text_event_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Nhà tôi bị trộm xe máy")
    update = text_update(
        10, USER, f"  {decomposed}\u200b  ", first_name="Nguyễn", language_code="vi"
    )
    update["message"]["from"]["last_name"] = "Văn An"

    event = parse_one(update)

    assert event.kind is InboundKind.TEXT
    assert event.event_id == "10"
    assert event.text == "Nhà tôi bị trộm xe máy"
    assert event.chat_id == str(USER)
    assert event.message_id == str(update["message"]["message_id"])
    assert not event.is_group
    assert event.sender is not None
    assert event.sender.platform_user_id == str(USER)
    assert event.sender.display_name == "Nguyễn Văn An"
    assert event.sender.language_code == "vi"
    assert event.occurred_at is not None
    assert event.occurred_at.timestamp() == update["message"]["date"]


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("/start page-12", "start", "page-12"),
        ("/start", "start", ""),
        ("/Duty@CommunePolBot   on ", "duty", "on"),
        ("/tip@bot\nxe bị mất ở chợ", "tip", "xe bị mất ở chợ"),
    ],
)
def test_command_has_its_name_lower_cased_and_its_args(text: str, command: str, args: str) -> None:
    event = parse_one(text_update(11, USER, text))
    assert event.kind is InboundKind.COMMAND
    assert (event.command, event.args) == (command, args)


def test_a_lone_slash_is_text() -> None:
    assert parse_one(text_update(12, USER, "/ ")).kind is InboundKind.TEXT


def test_callback_query_becomes_a_button_event() -> None:
    event = parse_one(callback_update(13, USER, "tip:new", callback_id="cbq-1", message_id=77))
    assert event.kind is InboundKind.BUTTON
    assert event.action == "tip:new"
    assert event.callback_id == "cbq-1"
    assert event.chat_id == str(USER)
    assert event.message_id == "77"
    assert event.sender is not None and event.sender.platform_user_id == str(USER)


def test_callback_query_without_its_message_answers_the_person() -> None:
    update = callback_update(14, USER, "a:1")
    del update["callback_query"]["message"]
    update["callback_query"]["inline_message_id"] = "inl-1"
    event = parse_one(update)
    assert event.kind is InboundKind.BUTTON
    assert event.chat_id == str(USER)
    assert event.message_id is None


def test_callback_query_in_a_group_replies_to_the_group() -> None:
    event = parse_one(callback_update(15, USER, "a:1", chat_id=GROUP, chat_type="supergroup"))
    assert event.is_group
    assert event.chat_id == str(GROUP)


def test_location() -> None:
    event = parse_one(location_update(16, USER, 12.6675, 108.0378))
    assert event.kind is InboundKind.LOCATION
    assert event.location is not None
    assert (event.location.latitude, event.location.longitude) == (12.6675, 108.0378)


def test_venue_keeps_its_title() -> None:
    update = location_update(17, USER, 12.5, 108)
    update["message"]["venue"] = {
        "location": {"latitude": 12.5, "longitude": 108},
        "title": "Chợ Buôn Ma Thuột",
        "address": "Phan Bội Châu",
    }
    event = parse_one(update)
    assert event.location is not None
    assert event.location.title == "Chợ Buôn Ma Thuột"
    assert event.location.longitude == 108.0


def test_photo_takes_the_largest_size_and_keeps_the_caption() -> None:
    event = parse_one(photo_update(18, USER, file_id="AgAD-big", caption=" biển số 47B1 "))
    assert event.kind is InboundKind.MEDIA
    assert event.text == "biển số 47B1"
    (media,) = event.media
    assert media.kind is MediaKind.PHOTO
    assert media.ref == "AgAD-big"
    assert media.size == 98_000
    assert media.caption == "biển số 47B1"


def test_document_is_a_file() -> None:
    update = message_update(
        {
            "document": {
                "file_id": "BQAD-1",
                "file_unique_id": "d1",
                "file_name": "don-trinh-bao.pdf",
                "mime_type": "application/pdf",
                "file_size": 52_000,
            }
        }
    )
    (media,) = parse_one(update).media
    assert media == Media(
        kind=MediaKind.FILE,
        ref="BQAD-1",
        name="don-trinh-bao.pdf",
        mime_type="application/pdf",
        size=52_000,
    )


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("voice", MediaKind.VOICE),
        ("audio", MediaKind.VOICE),
        ("video", MediaKind.VIDEO),
        ("video_note", MediaKind.VIDEO),
        ("sticker", MediaKind.STICKER),
    ],
)
def test_voice_audio_video_and_sticker_are_media(field: str, kind: MediaKind) -> None:
    update = message_update({field: {"file_id": f"{field}-1", "file_unique_id": "u"}})
    event = parse_one(update)
    assert event.kind is InboundKind.MEDIA
    assert event.text is None
    assert [(m.kind, m.ref) for m in event.media] == [(kind, f"{field}-1")]


def test_animation_is_a_video_not_its_backward_compatible_document() -> None:
    animation = {"file_id": "CgAD-1", "file_unique_id": "a", "mime_type": "video/mp4"}
    update = message_update({"animation": animation, "document": animation})
    assert parse_one(update).media[0].kind is MediaKind.VIDEO


def test_group_message_replies_to_the_group_and_names_the_member() -> None:
    event = parse_one(text_update(19, USER, "Có người lạ", chat_id=GROUP, chat_type="supergroup"))
    assert event.is_group
    assert event.chat_id == str(GROUP)
    assert event.sender is not None and event.sender.platform_user_id == str(USER)


@pytest.mark.parametrize(
    ("status", "kind"),
    [("kicked", InboundKind.UNFOLLOW), ("member", InboundKind.FOLLOW)],
)
def test_my_chat_member_in_a_private_chat_is_follow_or_unfollow(
    status: str, kind: InboundKind
) -> None:
    event = parse_one(my_chat_member_update(20, USER, status))
    assert event.kind is kind
    assert event.chat_id == str(USER)
    assert event.occurred_at is not None


def test_my_chat_member_in_a_group_is_ignored() -> None:
    update = my_chat_member_update(21, USER, "kicked", chat_id=GROUP, chat_type="group")
    event = parse_one(update)
    assert event.kind is InboundKind.IGNORED
    assert event.is_group


@pytest.mark.parametrize("key", ["edited_message", "channel_post", "edited_channel_post"])
def test_edits_and_channel_posts_are_ignored_with_their_chat(key: str) -> None:
    update = text_update(22, USER, "sửa lại")
    update[key] = update.pop("message")
    event = parse_one(update)
    assert event.kind is InboundKind.IGNORED
    assert event.event_id == "22"
    assert event.chat_id == str(USER)


def test_unknown_update_type_is_ignored() -> None:
    event = parse_one({"update_id": 23, "poll": {"id": "p", "question": "?", "options": []}})
    assert event == InboundEvent(event_id="23", kind=InboundKind.IGNORED)


def test_service_message_is_ignored() -> None:
    update = message_update({"new_chat_members": [{"id": 1, "is_bot": False, "first_name": "B"}]})
    assert parse_one(update).kind is InboundKind.IGNORED


@pytest.mark.parametrize(
    "update",
    [
        text_update(24, USER, "/start ref-1"),
        callback_update(25, USER, "a:1"),
        photo_update(26, USER, caption="ảnh"),
        location_update(27, USER),
    ],
)
def test_events_survive_the_inbox_json(update: dict[str, Any]) -> None:
    event = parse_one(update)
    assert InboundEvent.from_json(event.to_json()) == event


def test_parse_update_is_exported_for_polling() -> None:
    assert parse_update(text_update(28, USER, "hi")).text == "hi"


# -- parse: malformed input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{}",
        "{}".encode("utf-16"),
        b"",
        b"not json",
        b"[]",
        b'"update"',
        b"{}",
        b'{"update_id": "1"}',
        b'{"update_id": true}',
        b'{"update_id": 1.0}',
        b'{"update_id": -1}',
        b'{"update_id": NaN}',
        b'{"update_id": 1, "x": Infinity}',
        b'{"update_id": 1' + b"1" * 5000 + b"}",
        b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"update_id": 1, "message": []}',
        b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": "42"}}}',
        json.dumps(text_update(1, USER, "\ud800")).encode(),
        json.dumps(location_update(1, USER, 1e999, 1)).encode(),
        json.dumps(message_update({"photo": []})).encode(),
        b'{"update_id": 1, "callback_query": {"id": "1", "data": "a"}}',
    ],
)
def test_malformed_bodies_raise_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        parser().parse(raw)
    assert str(USER) not in caught.value.message


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
UPDATE_KEYS = st.sampled_from(
    ["message", "callback_query", "my_chat_member", "edited_message", "poll", "update_id"]
)


def _parse_or_validation_error(raw: bytes) -> None:
    try:
        events = parser().parse(raw)
    except ValidationError:
        return
    assert len(events) == 1
    events[0].to_json()  # whatever is accepted can be stored


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_validation_error(raw: bytes) -> None:
    _parse_or_validation_error(raw)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_any_json_parses_or_raises_validation_error(value: Any) -> None:
    _parse_or_validation_error(json.dumps(value).encode())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(UPDATE_KEYS, JSON_VALUES, max_size=3).flatmap(
        lambda extra: (
            st.just(extra)
            | JSON_VALUES.filter(lambda v: type(v) is not int).map(
                lambda update_id: {**extra, "update_id": update_id}
            )
        )
    )
)
def test_update_objects_with_any_field_types_parse_or_raise(update: dict[str, Any]) -> None:
    _parse_or_validation_error(json.dumps(update).encode())


REAL_UPDATES = [
    text_update(1, USER, "/start x"),
    callback_update(2, USER, "a:1"),
    location_update(3, USER),
    photo_update(4, USER, caption="c"),
    my_chat_member_update(5, USER, "kicked"),
    message_update({"document": {"file_id": "f", "file_name": "a.pdf", "file_size": 1}}),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            paths += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            paths += _paths(inner, (*prefix, index))
    return paths


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_real_updates_with_one_field_replaced_parse_or_raise(data: st.DataObject) -> None:
    update = json.loads(json.dumps(data.draw(st.sampled_from(REAL_UPDATES))))
    path = data.draw(st.sampled_from(_paths(update)))
    target = update
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(JSON_VALUES)
    _parse_or_validation_error(json.dumps(update).encode())


# -- verify --------------------------------------------------------------------------------


def _channel(secrets: dict[str, Any]) -> TelegramChannel:
    return TelegramChannel(1, secrets, api_base="http://x")


def test_verify_accepts_the_right_secret() -> None:
    channel = _channel({"token": TOKEN, "webhook_secret": SECRET})
    channel.verify(WebhookRequest({"X-Telegram-Bot-Api-Secret-Token": SECRET}, b"{}"))
    # header names are case-insensitive even in a plain dict
    channel.verify(WebhookRequest({"x-telegram-bot-api-secret-token": SECRET}, b"{}"))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET.upper()},
        {"X-Telegram-Bot-Api-Secret-Token": ""},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET + " "},
        {"X-Telegram-Bot-Api-Secret-Token": "sécret\udcff"},
        {"X-Other": SECRET},
    ],
)
def test_verify_rejects_a_missing_or_wrong_secret(headers: dict[str, str]) -> None:
    channel = _channel({"token": TOKEN, "webhook_secret": SECRET})
    with pytest.raises(WebhookRejected) as caught:
        channel.verify(WebhookRequest(headers, b"{}"))
    assert SECRET not in caught.value.message


@pytest.mark.parametrize("secret", [None, ""])
def test_verify_rejects_everything_without_a_configured_secret(secret: str | None) -> None:
    channel = _channel({"token": TOKEN, "webhook_secret": secret})
    with pytest.raises(WebhookRejected):
        channel.verify(WebhookRequest({"X-Telegram-Bot-Api-Secret-Token": ""}, b"{}"))


@pytest.mark.parametrize(
    "secrets",
    [
        {},
        {"token": ""},
        {"token": 123456},
        {"token": "no-colon"},
        {"token": "abc:def"},
        {"token": "123: spaced"},
        {"token": "123:a/b"},
        {"token": TOKEN, "webhook_secret": "has space"},
        {"token": TOKEN, "webhook_secret": "x" * 257},
    ],
)
def test_bad_secrets_raise_validation_error_without_echoing_them(secrets: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        _channel(secrets)
    for value in secrets.values():
        if isinstance(value, str) and value:
            assert value not in caught.value.message


def test_the_api_base_must_be_a_url() -> None:
    with pytest.raises(ValidationError):
        TelegramChannel(1, {"token": TOKEN}, api_base="")


def test_the_channel_implements_both_ports() -> None:
    channel = _channel({"token": TOKEN, "webhook_secret": SECRET})
    assert isinstance(channel, Channel)
    assert isinstance(channel, Pollable)
    assert channel.supports_buttons and channel.max_text_length == 4096


# -- splitting -----------------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(text.split())


def _rejoin(parts: list[str]) -> str:
    """The parts put back together, without the whitespace a break ate or Telegram trims."""
    return "".join("".join(parts).split())


def test_split_counts_utf16_units() -> None:
    assert utf16_length("👮🏻") == 4
    assert utf16_length("Xã Ea Kpăm") == 10
    assert split_utf16("🚨" * 2048) == ["🚨" * 2048]
    parts = split_utf16("🚨" * 2049)
    assert [len(p) for p in parts] == [2048, 1]


def test_split_never_separates_a_letter_from_its_diacritic_or_an_emoji_from_its_parts() -> None:
    nfd = unicodedata.normalize("NFD", "ượ") * 2000  # 3 code points each, no spaces
    for part in split_utf16(nfd, 100):
        assert not unicodedata.combining(part[0])
        assert utf16_length(part) <= 100
    family = "👨\u200d👩\u200d👧" * 500  # 8 UTF-16 units each
    for part in split_utf16(family, 101):
        assert part.startswith("👨") and part.endswith("👧")


# -- send ----------------------------------------------------------------------------------


async def test_text_goes_form_encoded_to_the_right_chat(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    ids = await send_text(channel, "Công an xã đã nhận tin báo. <b>Cảm ơn</b> *bà con*")

    (call,) = fake.calls_to("sendMessage")
    assert call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert call.params["_token"] == TOKEN
    assert call.params["chat_id"] == str(USER)
    assert call.params["text"] == "Công an xã đã nhận tin báo. <b>Cảm ơn</b> *bà con*"
    assert "parse_mode" not in call.params  # user text can never become markup
    assert ids == ("1",)
    assert fake.sent_texts(USER) == [call.params["text"]]


async def test_long_vietnamese_and_emoji_text_is_split_under_4096_utf16_units(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    paragraph = (
        "⚠️ Cảnh báo lừa đảo 🚨: đối tượng giả danh công an gọi điện yêu cầu chuyển tiền 💸. "
        "Bà con tuyệt đối không cung cấp mã OTP 🔐, không bấm vào đường link lạ 🔗.\n"
    )
    text = paragraph * 120 + "👮🏻‍♀️" * 900 + "Hết."
    buttons = ((Button("Đã hiểu", "ack:1"),),)

    ids = await send_text(channel, text, buttons=buttons)

    calls = fake.calls_to("sendMessage")
    parts = [call.params["text"] for call in calls]
    assert len(parts) == len(ids) >= 3
    assert all(utf16_length(part) <= 4096 for part in parts)
    assert _rejoin(parts) == _rejoin([text])
    # the police officer emoji run is cut between whole sequences
    assert all(part.startswith(("⚠️", "👮")) for part in parts)
    assert [("reply_markup" in call.params) for call in calls] == [False] * (len(calls) - 1) + [
        True
    ]


async def test_inline_keyboard_carries_callback_data_and_links(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    buttons = (
        (Button("Báo tin", "tip:new"), Button("Hỏi tin đồn", "rumour:ask")),
        (Button("Trang xã", "https://eakpam.example.vn", ButtonKind.URL),),
    )
    await send_text(channel, "Chọn việc", buttons=buttons)

    (call,) = fake.calls_to("sendMessage")
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "Báo tin", "callback_data": "tip:new"},
                {"text": "Hỏi tin đồn", "callback_data": "rumour:ask"},
            ],
            [{"text": "Trang xã", "url": "https://eakpam.example.vn"}],
        ]
    }


async def test_location_button_asks_with_a_reply_keyboard(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    buttons = (
        (Button("📍 Gửi vị trí", kind=ButtonKind.LOCATION),),
        (Button("Bỏ qua", "skip"), Button("Bản đồ", "https://maps.example", ButtonKind.URL)),
    )
    await send_text(channel, "Bạn đang ở đâu?", buttons=buttons)

    (call,) = fake.calls_to("sendMessage")
    assert call.params["reply_markup"] == {
        "keyboard": [
            [{"text": "📍 Gửi vị trí", "request_location": True}],
            [{"text": "Bỏ qua"}],
        ],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    # a reply keyboard cannot open links, so the link is written under the text
    assert call.params["text"] == "Bạn đang ở đâu?\n\nBản đồ: https://maps.example"


async def test_location_button_is_dropped_in_a_group(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    buttons = ((Button("📍", kind=ButtonKind.LOCATION), Button("OK", "ok")),)
    await channel.send(
        Recipient(str(GROUP), is_group=True),
        OutboundMessage("Nhóm", buttons=buttons),
        SendPurpose.BROADCAST,
    )
    (call,) = fake.calls_to("sendMessage")
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]
    }


async def test_photo_with_caption_and_buttons(fake: FakeTelegram, channel: TelegramChannel) -> None:
    ids = await send_text(
        channel,
        "Người mất tích: Y Bih, 12 tuổi",
        media=Media(MediaKind.PHOTO, "https://cdn.example/y-bih.jpg"),
        buttons=((Button("Tôi đã thấy", "seen:1"),),),
    )
    (call,) = fake.calls_to("sendPhoto")
    assert call.params["photo"] == "https://cdn.example/y-bih.jpg"
    assert call.params["caption"] == "Người mất tích: Y Bih, 12 tuổi"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "seen:1"
    assert "parse_mode" not in call.params
    assert not fake.calls_to("sendMessage")
    assert len(ids) == 1


async def test_photo_with_a_long_text_sends_the_text_after_it(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    text = "Thông báo. " * 100  # over 1024 units: too long for a caption
    ids = await send_text(
        channel,
        text,
        media=Media(MediaKind.PHOTO, "AgAD-file-id"),
        buttons=((Button("OK", "ok"),),),
        reply_to="41",
    )
    assert [call.method for call in fake.calls] == ["sendPhoto", "sendMessage"]
    photo, message = fake.calls
    assert "caption" not in photo.params and "reply_markup" not in photo.params
    assert photo.params["reply_parameters"]["message_id"] == 41
    assert _squash(message.params["text"]) == _squash(text)
    assert "reply_markup" in message.params and "reply_parameters" not in message.params
    assert len(ids) == 2


async def test_file_goes_as_a_document(fake: FakeTelegram, channel: TelegramChannel) -> None:
    await send_text(channel, "Mẫu đơn", media=Media(MediaKind.FILE, "BQAD-form"))
    (call,) = fake.calls_to("sendDocument")
    assert call.params["document"] == "BQAD-form"
    assert call.params["caption"] == "Mẫu đơn"


async def test_reply_to_quotes_a_numeric_message_id(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    await send_text(channel, "Đã nhận", reply_to="1005")
    await send_text(channel, "Đã nhận", reply_to="zalo-msg-abc")
    first, second = fake.calls_to("sendMessage")
    assert first.params["reply_parameters"] == {
        "message_id": 1005,
        "allow_sending_without_reply": True,
    }
    assert "reply_parameters" not in second.params


async def test_empty_text_is_refused_without_a_call(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    with pytest.raises(PermanentSendError):
        await send_text(channel, " \n ")
    assert not fake.calls


# -- send: faults --------------------------------------------------------------------------


def _assert_safe(error: SendError, text: str) -> None:
    assert str(USER) not in error.message and text not in error.message
    assert TOKEN not in error.message
    assert error.__cause__ is None and error.__context__ is None


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.forbidden(), Unreachable),
        (Fault.forbidden("Forbidden: user is deactivated"), Unreachable),
        (Fault.bad_request("Bad Request: chat not found"), Unreachable),
        (Fault.bad_request("Bad Request: PEER_ID_INVALID"), Unreachable),
        (Fault.bad_request("Bad Request: BUTTON_URL_INVALID"), PermanentSendError),
        (Fault.server_error(500), TransientSendError),
        (Fault.server_error(502), TransientSendError),
        (Fault.platform_error(401, "Unauthorized"), AccountRefused),
        (Fault.platform_error(404, "Not Found"), AccountRefused),
        (Fault.platform_error(409, "Conflict: terminated by other getUpdates"), TransientSendError),
        (Fault("unknown"), TransientSendError),
    ],
)
async def test_platform_errors_map_to_send_errors(
    fake: FakeTelegram, channel: TelegramChannel, fault: Fault, expected: type[SendError]
) -> None:
    fake.fail_next(fault)
    text = "Tin riêng tư 🔒"
    with pytest.raises(SendError) as caught:
        await send_text(channel, text)
    assert type(caught.value) is expected
    _assert_safe(caught.value, text)


async def test_429_becomes_retry_after_with_its_seconds(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.fail_next(Fault.rate_limited(2))
    with pytest.raises(RetryAfter) as caught:
        await send_text(channel, "Tin riêng tư")
    assert caught.value.seconds == 2
    _assert_safe(caught.value, "Tin riêng tư")


async def test_a_slow_platform_beyond_the_request_timeout_is_transient(
    fake: FakeTelegram,
) -> None:
    channel = TelegramChannel(7, {"token": TOKEN}, api_base=fake.base_url, request_timeout=0.3)
    fake.fail_next(Fault.slow(1.0))
    try:
        started = time.monotonic()
        with pytest.raises(TransientSendError) as caught:
            await send_text(channel, "Tin riêng tư")
        assert time.monotonic() - started < 0.9
        _assert_safe(caught.value, "Tin riêng tư")
    finally:
        await channel.close()


async def test_an_unreachable_server_is_transient() -> None:
    # A port that was just free: nothing listens on it.
    async with FakeTelegram() as gone:
        base_url = gone.base_url
    channel = TelegramChannel(7, {"token": TOKEN}, api_base=base_url, request_timeout=2)
    try:
        with pytest.raises(TransientSendError):
            await send_text(channel, "x")
    finally:
        await channel.close()


async def test_rate_cap_answers_429(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.enforce_rate(2)
    results = await asyncio.gather(
        *(send_text(channel, f"m{n}") for n in range(5)), return_exceptions=True
    )
    limited = [r for r in results if isinstance(r, RetryAfter)]
    assert limited and all(r.seconds == 1 for r in limited)
    assert fake.rejected_by_cap == len(limited)


# -- acknowledge ---------------------------------------------------------------------------


async def test_acknowledge_answers_the_callback_query(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    event = parse_one(callback_update(30, USER, "a:1", callback_id="cbq-30"))
    await channel.acknowledge(event)
    (call,) = fake.calls_to("answerCallbackQuery")
    assert call.params["callback_query_id"] == "cbq-30"

    await channel.acknowledge(parse_one(text_update(31, USER, "hi")))
    assert len(fake.calls_to("answerCallbackQuery")) == 1


async def test_acknowledge_swallows_errors_and_logs_only_the_account(
    fake: FakeTelegram, channel: TelegramChannel, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next(Fault.bad_request("Bad Request: query is too old"))
    event = parse_one(callback_update(32, USER, "a:1", callback_id="cbq-32"))
    with caplog.at_level(logging.WARNING, logger="bots.telegram"):
        await channel.acknowledge(event)
    (record,) = caplog.records
    assert "7" in record.getMessage()
    assert "cbq-32" not in record.getMessage() and str(USER) not in record.getMessage()


# -- webhook setup and polling -------------------------------------------------------------


async def test_set_webhook_sends_the_url_and_secret(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    await channel.set_webhook("https://cong-an.example.vn/webhooks/telegram/7")
    (call,) = fake.calls_to("setWebhook")
    assert call.params["url"] == "https://cong-an.example.vn/webhooks/telegram/7"
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
    ]
    assert fake.webhook["url"] == call.params["url"]

    await channel.remove_webhook()
    assert fake.calls_to("deleteWebhook") and fake.webhook == {}


async def test_set_webhook_needs_a_secret(fake: FakeTelegram) -> None:
    channel = TelegramChannel(7, {"token": TOKEN}, api_base=fake.base_url)
    try:
        with pytest.raises(ValidationError):
            await channel.set_webhook("https://example.vn/hook")
    finally:
        await channel.close()
    assert not fake.calls


async def test_get_updates_returns_pushed_updates_and_the_offset_confirms_them(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.push_update(text_update(100, USER, "Xin chào"))
    fake.push_update(callback_update(101, USER, "a:1"))

    events, offset = await channel.get_updates(None, 5)

    assert [(e.event_id, e.kind) for e in events] == [
        ("100", InboundKind.TEXT),
        ("101", InboundKind.BUTTON),
    ]
    assert offset == "102"
    assert fake.calls_to("getUpdates")[0].params["timeout"] == "5"

    fake.push_update(text_update(102, USER, "Còn đây"))
    events, offset = await channel.get_updates(offset, 5)
    assert [e.event_id for e in events] == ["102"]
    assert offset == "103"

    started = time.monotonic()
    events, same = await channel.get_updates(offset, 5)
    assert (list(events), same) == ([], "103")
    assert time.monotonic() - started < 3  # the fake holds a long poll about a second
    assert fake.calls_to("getUpdates")[-1].params["offset"] == "103"


async def test_get_updates_keeps_a_malformed_update_as_ignored(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.push_update({"update_id": 200, "message": {"chat": "not an object"}})
    fake.push_update(text_update(201, USER, "ổn"))
    fake.push_update({"no_update_id": True})

    events, offset = await channel.get_updates("200", 0)

    assert [e.kind for e in events] == [
        InboundKind.IGNORED,
        InboundKind.TEXT,
        InboundKind.IGNORED,
    ]
    assert events[0].event_id == "200"
    assert events[2].event_id.startswith("malformed-")
    assert offset == "202"


async def test_get_updates_rejects_a_non_numeric_offset(channel: TelegramChannel) -> None:
    with pytest.raises(ValidationError):
        await channel.get_updates("abc", 0)


# -- the fake itself -----------------------------------------------------------------------


async def test_fake_stats_and_reset_routes(fake: FakeTelegram, channel: TelegramChannel) -> None:
    await send_text(channel, "một")
    fake.fail_next(Fault.forbidden())
    with pytest.raises(Unreachable):
        await send_text(channel, "hai")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.base_url}/_fake/stats") as response:
            stats = await response.json()
        assert stats == {
            "calls": {"sendMessage": 2},
            "rejected_by_cap": 0,
            "by_chat": {str(USER): 1},
        }
        async with http.post(f"{fake.base_url}/_fake/reset") as response:
            assert response.status == 200
    assert not fake.calls and fake.stats()["calls"] == {}


async def test_fake_runs_standalone(tmp_path: Path) -> None:
    stats_file = tmp_path / "stats.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.telegram",
        "--port",
        "0",
        "--rate-cap",
        "30",
        "--stats-file",
        str(stats_file),
        stdout=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        base_url = line.decode().split()[-1]
        channel = TelegramChannel(7, {"token": TOKEN}, api_base=base_url)
        try:
            await send_text(channel, "chạy riêng")
        finally:
            await channel.close()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 20)
    assert json.loads(stats_file.read_text())["by_chat"] == {str(USER): 1}


async def test_fake_reads_json_and_multipart_bodies(fake: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        json_call = {"chat_id": 42, "text": "json", "reply_markup": {"inline_keyboard": []}}
        async with http.post(f"{fake.base_url}/bot{TOKEN}/sendMessage", json=json_call) as r:
            answer = await r.json()
        assert answer["ok"] and answer["result"]["text"] == "json"

        form = aiohttp.FormData()
        form.add_field("chat_id", "42")
        form.add_field("caption", "ảnh")
        form.add_field("photo", b"\xff\xd8jpeg", filename="a.jpg")
        async with http.post(f"{fake.base_url}/bot{TOKEN}/sendPhoto", data=form) as r:
            assert (await r.json())["result"]["caption"] == "ảnh"

        async with http.post(f"{fake.base_url}/bot{TOKEN}/noSuchMethod") as r:
            assert r.status == 404 and (await r.json())["ok"] is False

    json_params, photo_params, _ = (call.params for call in fake.calls)
    assert json_params["reply_markup"] == {"inline_keyboard": []}
    assert photo_params["photo"] == {"filename": "a.jpg", "size": 6}
    assert fake.sent_texts(42) == ["json", "ảnh"]
