"""The Zalo OA adapter against the fake Zalo OA + OAuth server: webhook signatures (with the
reference test vector), parsing of every event shape, property tests that malformed bodies only
ever raise ValidationError, and sends, token renewal and error mapping over real HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.zalo_oa import BUTTON_PREFIX, ZaloOAChannel, parse
from bots.zalo_oa.tokens import LEASE_KEY
from communepol.errors import ValidationError
from communepol.ports import (
    AccountRefused,
    Button,
    ButtonKind,
    Channel,
    InboundKind,
    Media,
    MediaKind,
    NotAllowedNow,
    OutboundMessage,
    PermanentSendError,
    Pollable,
    Recipient,
    RetryAfter,
    SendPurpose,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
)
from tests.fakes.base import Fault
from tests.fakes.zalo_oa import FakeZaloOA

# The reference vector from platforms.md A9: these exact bytes, this secret, this signature.
VECTOR_APP_ID = "2553928453557884079"
VECTOR_SECRET = "OA_SECRET_EXAMPLE"
VECTOR_BODY = (
    b'{"app_id":"2553928453557884079","event_name":"user_send_text",'
    b'"sender":{"id":"6142494823000000001"},"recipient":{"id":"3662729599332560487"},'
    b'"message":{"text":"Xin chao","msg_id":"cb31dff1c39642cc1b83"},'
    b'"timestamp":"1699003881354","user_id_by_app":"979122185046046317"}'
)
VECTOR_SIGNATURE = "mac=c2e6613e19c32c1fd58ec3057599f25ed509ae831ffd8542b49cdcd4271f389e"
VECTOR_TIME = datetime.fromtimestamp(1699003881.354, tz=UTC)

USER = "6142494823000000001"
OTHER_USER = "7000000000000000002"


class MemoryStore:
    """`SecretsStore` in memory, with the real one's compare-and-swap on a version. Each call
    yields to the loop, as a database round trip would."""

    def __init__(self, secrets: Mapping[str, Any]) -> None:
        self.secrets = dict(secrets)
        self.version = 1
        self.loads = 0
        self.replaces = 0

    async def load(self) -> tuple[dict[str, Any], int]:
        await asyncio.sleep(0)
        self.loads += 1
        return dict(self.secrets), self.version

    async def replace(self, secrets: Mapping[str, Any], expected_version: int) -> bool:
        await asyncio.sleep(0)
        if expected_version != self.version:
            return False
        self.secrets = dict(secrets)
        self.version += 1
        self.replaces += 1
        return True


def vector_channel(**overrides: Any) -> ZaloOAChannel:
    secrets = {"app_id": VECTOR_APP_ID, "oa_secret": VECTOR_SECRET, "app_secret": "APP_SECRET"}
    return ZaloOAChannel(
        1,
        {**secrets, **overrides},
        api_base="http://127.0.0.1:9",
        oauth_base="http://127.0.0.1:9",
        clock=lambda: VECTOR_TIME + timedelta(minutes=1),
    )


def channel_for(
    fake: FakeZaloOA,
    *,
    store: MemoryStore | None = None,
    secrets: Mapping[str, Any] | None = None,
    timeout: float = 5.0,
    clock: Any = None,
) -> ZaloOAChannel:
    extra = {"clock": clock} if clock is not None else {}
    return ZaloOAChannel(
        7,
        secrets if secrets is not None else fake.account_secrets(),
        api_base=fake.base_url,
        oauth_base=fake.base_url,
        store=store,
        request_timeout=timeout,
        **extra,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as server:
        yield server


@pytest.fixture
async def channel(fake: FakeZaloOA) -> AsyncIterator[ZaloOAChannel]:
    adapter = channel_for(fake)
    yield adapter
    await adapter.close()


def request(body: bytes, signature: str | None, **headers: str) -> WebhookRequest:
    all_headers = dict(headers)
    if signature is not None:
        all_headers["X-ZEvent-Signature"] = signature
    return WebhookRequest(headers=all_headers, body=body)


def one(body: bytes | dict[str, Any]) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    events = parse(raw)
    assert len(events) == 1
    return events[0]


# -- the adapter's shape -------------------------------------------------------------------


def test_is_a_channel_but_not_pollable() -> None:
    adapter = vector_channel()
    assert isinstance(adapter, Channel)
    assert not isinstance(adapter, Pollable)
    assert adapter.supports_buttons is True
    assert adapter.max_text_length == 2000


@pytest.mark.parametrize("missing", ["app_id", "oa_secret"])
def test_missing_required_secret_is_a_validation_error(missing: str) -> None:
    secrets = {"app_id": VECTOR_APP_ID, "oa_secret": VECTOR_SECRET, missing: ""}
    with pytest.raises(ValidationError) as caught:
        ZaloOAChannel(1, secrets, api_base="http://x", oauth_base="http://x")
    assert VECTOR_SECRET not in str(caught.value)


# -- webhook signature ---------------------------------------------------------------------


def test_reference_vector_verifies() -> None:
    vector_channel().verify(request(VECTOR_BODY, VECTOR_SIGNATURE))
    assert FakeZaloOA.sign(VECTOR_BODY, VECTOR_APP_ID, "1699003881354", VECTOR_SECRET) == (
        VECTOR_SIGNATURE
    )


def test_header_name_is_case_insensitive_and_bare_hex_is_accepted() -> None:
    adapter = vector_channel()
    bare = VECTOR_SIGNATURE.removeprefix("mac=")
    adapter.verify(WebhookRequest(headers={"x-zevent-signature": bare}, body=VECTOR_BODY))
    adapter.verify(request(VECTOR_BODY, "mac=" + bare.upper()))


def test_flipping_one_body_byte_is_rejected() -> None:
    tampered = VECTOR_BODY.replace(b"Xin chao", b"Xin chap")
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(tampered, VECTOR_SIGNATURE))


@given(st.data())
def test_any_single_byte_change_is_rejected(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(VECTOR_BODY) - 1))
    mask = data.draw(st.integers(1, 255))
    body = bytearray(VECTOR_BODY)
    body[index] ^= mask
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(bytes(body), VECTOR_SIGNATURE))


def test_reserialised_json_is_rejected() -> None:
    reserialised = json.dumps(json.loads(VECTOR_BODY)).encode()  # ", " and ": " separators
    assert reserialised != VECTOR_BODY
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(reserialised, VECTOR_SIGNATURE))


def test_signing_with_the_app_secret_is_rejected() -> None:
    wrong = FakeZaloOA.sign(VECTOR_BODY, VECTOR_APP_ID, "1699003881354", "APP_SECRET")
    with pytest.raises(WebhookRejected) as caught:
        vector_channel().verify(request(VECTOR_BODY, wrong))
    assert "APP_SECRET" not in str(caught.value)
    assert VECTOR_SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "mac=",
        "mac=" + "0" * 64,
        "0" * 64,
        VECTOR_SIGNATURE[:-1],
        VECTOR_SIGNATURE + "0",
        "sha256=" + VECTOR_SIGNATURE.removeprefix("mac="),
        "mac=" + "é" * 64,
    ],
)
def test_wrong_or_missing_signature_is_rejected(signature: str | None) -> None:
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(VECTOR_BODY, signature))


def _signed_at(stamp: datetime, *, app_id: str = VECTOR_APP_ID) -> tuple[bytes, str]:
    timestamp = str(int(stamp.timestamp() * 1000))
    body = json.dumps(
        {
            "app_id": app_id,
            "event_name": "follow",
            "follower": {"id": USER},
            "timestamp": timestamp,
        },
        separators=(",", ":"),
    ).encode()
    return body, FakeZaloOA.sign(body, app_id, timestamp, VECTOR_SECRET)


def test_timestamp_window() -> None:
    now = VECTOR_TIME + timedelta(minutes=1)
    adapter = vector_channel()
    adapter.verify(request(*_signed_at(now - timedelta(hours=23))))  # a Zalo retry, still fine
    adapter.verify(request(*_signed_at(now + timedelta(minutes=5))))  # clocks drift
    for stale in (now - timedelta(hours=25), now + timedelta(minutes=11)):
        with pytest.raises(WebhookRejected):
            adapter.verify(request(*_signed_at(stale)))


def test_non_numeric_timestamp_is_rejected() -> None:
    body = b'{"app_id":"2553928453557884079","event_name":"x","timestamp":"ZNS"}'
    signature = FakeZaloOA.sign(body, VECTOR_APP_ID, "ZNS", VECTOR_SECRET)
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(body, signature))


def test_an_event_of_another_app_is_rejected_even_when_correctly_signed() -> None:
    body, signature = _signed_at(VECTOR_TIME, app_id="1111111111111111111")
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(body, signature))


def test_numbers_are_signed_as_their_literal_digits() -> None:
    # app_id and timestamp as JSON numbers beyond 2**53: a float round trip would change them.
    body = (
        b'{"app_id":2553928453557884079,"event_name":"follow",'
        b'"follower":{"id":6142494823000000001},"timestamp":1699003881354}'
    )
    signature = FakeZaloOA.sign(body, VECTOR_APP_ID, "1699003881354", VECTOR_SECRET)
    vector_channel().verify(request(body, signature))
    assert one(body).chat_id == "6142494823000000001"


def test_timestamp_header_is_used_when_the_body_has_none() -> None:
    timestamp = str(int(VECTOR_TIME.timestamp() * 1000))
    body = b'{"app_id":"2553928453557884079","event_name":"follow","follower":{"id":"1"}}'
    signature = FakeZaloOA.sign(body, VECTOR_APP_ID, timestamp, VECTOR_SECRET)
    vector_channel().verify(request(body, signature, **{"X-ZEvent-Timestamp": timestamp}))
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(body, signature))


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"[]", b'"x"', b"{}", b'{"app_id":1}'])
def test_unreadable_bodies_are_rejected(body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        vector_channel().verify(request(body, VECTOR_SIGNATURE))


@given(st.binary(max_size=300), st.dictionaries(st.text(max_size=30), st.text(max_size=80)))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_verify_raises_only_webhook_rejected(body: bytes, headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected):
        vector_channel().verify(WebhookRequest(headers=headers, body=body))


async def test_fake_signed_events_verify(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    body, headers = fake.signed(fake.text_event(USER, "Chào công an xã"))
    channel.verify(WebhookRequest(headers=headers, body=body))
    body, headers = fake.signed(fake.follow_event(USER), oa_secret="not-the-secret")
    with pytest.raises(WebhookRejected):
        channel.verify(WebhookRequest(headers=headers, body=body))


# -- parsing -------------------------------------------------------------------------------


def test_parse_the_reference_text_event() -> None:
    event = one(VECTOR_BODY)
    assert event.kind is InboundKind.TEXT
    assert event.text == "Xin chao"
    assert event.event_id == event.message_id == "cb31dff1c39642cc1b83"
    assert event.chat_id == event.sender.platform_user_id == "6142494823000000001"
    assert event.is_group is False
    assert event.occurred_at == VECTOR_TIME


def test_parse_text_is_nfc() -> None:
    fake = FakeZaloOA()
    event = one(fake.text_event(USER, "Xin cha\u0300o  \n"))  # NFD, as some keyboards send it
    assert event.text == "Xin chào"


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("/start page-12", "start", "page-12"),
        ("/Start", "start", ""),
        ("/duty   on  ", "duty", "on"),
        ("/report\nline two", "report", "line two"),
    ],
)
def test_parse_command(text: str, command: str, args: str) -> None:
    event = one(FakeZaloOA().text_event(USER, text))
    assert event.kind is InboundKind.COMMAND
    assert (event.command, event.args) == (command, args)


def test_a_lone_slash_is_text() -> None:
    assert one(FakeZaloOA().text_event(USER, "/")).kind is InboundKind.TEXT
    assert one(FakeZaloOA().text_event(USER, "/ hi")).kind is InboundKind.TEXT


def test_parse_button_press() -> None:
    event = one(FakeZaloOA().text_event(USER, BUTTON_PREFIX + "menu:report"))
    assert event.kind is InboundKind.BUTTON
    assert event.action == "menu:report"
    # Not something our buttons can send: plain text.
    assert one(FakeZaloOA().text_event(USER, BUTTON_PREFIX)).kind is InboundKind.TEXT
    too_long = BUTTON_PREFIX + "x" * 65
    assert one(FakeZaloOA().text_event(USER, too_long)).kind is InboundKind.TEXT


def test_parse_image() -> None:
    event = one(FakeZaloOA().image_event(USER, "https://img.example/a.jpg", caption="Xe lạ"))
    assert event.kind is InboundKind.MEDIA
    (media,) = event.media
    assert media.kind is MediaKind.PHOTO
    assert media.ref == "https://img.example/a.jpg"
    assert media.caption == "Xe lạ"


@pytest.mark.parametrize(
    ("what", "kind"),
    [
        ("file", MediaKind.FILE),
        ("audio", MediaKind.VOICE),
        ("video", MediaKind.VIDEO),
        ("sticker", MediaKind.STICKER),
        ("gif", MediaKind.PHOTO),
        ("link", MediaKind.FILE),
    ],
)
def test_parse_other_media(what: str, kind: MediaKind) -> None:
    body = {
        "app_id": "1",
        "event_name": f"user_send_{what}",
        "sender": {"id": USER},
        "recipient": {"id": "9"},
        "message": {
            "msg_id": "m1",
            "attachments": [
                {
                    "type": what,
                    "payload": {"url": "https://f.example/x", "name": "x.pdf", "size": "2048"},
                }
            ],
        },
        "timestamp": "1700000000000",
    }
    event = one(body)
    assert event.kind is InboundKind.MEDIA
    assert event.media[0].kind is kind
    assert event.media[0].name == "x.pdf"
    assert event.media[0].size == 2048


def test_parse_location_with_string_coordinates() -> None:
    event = one(FakeZaloOA().location_event(USER, "12.6862", "108.0380"))
    assert event.kind is InboundKind.LOCATION
    assert (event.location.latitude, event.location.longitude) == (12.6862, 108.038)


@pytest.mark.parametrize(
    "message",
    [
        {
            "attachments": [
                {"type": "location", "payload": {"coordinates": {"lat": 10.5, "long": 106}}}
            ]
        },
        {
            "attachments": [
                {"type": "location", "payload": {"latitude": "10.5", "longitude": "106"}}
            ]
        },
        {"location": {"latitude": 10.5, "longitude": "106"}},
    ],
)
def test_parse_location_spellings(message: dict[str, Any]) -> None:
    body = {
        "event_name": "user_send_location",
        "sender": {"id": USER},
        "message": {"msg_id": "m", **message},
        "timestamp": "1",
    }
    event = one(body)
    assert (event.location.latitude, event.location.longitude) == (10.5, 106.0)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [("91", "100"), ("10", "181"), ("NaN", "1"), ("abc", "1"), ("1e999", "1")],
)
def test_parse_location_out_of_range(latitude: str, longitude: str) -> None:
    with pytest.raises(ValidationError):
        parse(json.dumps(FakeZaloOA().location_event(USER, latitude, longitude)).encode())


def test_parse_location_without_coordinates() -> None:
    body = {"event_name": "user_send_location", "sender": {"id": USER}, "message": {"text": ""}}
    with pytest.raises(ValidationError):
        one(body)


def test_parse_follow_and_unfollow() -> None:
    fake = FakeZaloOA()
    follow = one(fake.follow_event(USER, timestamp_ms=1700000000000))
    assert follow.kind is InboundKind.FOLLOW
    assert follow.chat_id == follow.sender.platform_user_id == USER
    assert follow.event_id == f"follow:{USER}:1700000000000"
    unfollow = one(fake.unfollow_event(USER, timestamp_ms=1700000000001))
    assert unfollow.kind is InboundKind.UNFOLLOW
    assert unfollow.event_id == f"unfollow:{USER}:1700000000001"


def test_parse_submitted_info() -> None:
    info = {
        "name": "Nguyễn Văn A",
        "phone": 84912345678,
        "address": "Thôn 3",
        "full_address": {"city": "Đắk Lắk", "district": None},
        "verified": True,
    }
    event = one(FakeZaloOA().submit_info_event(USER, info, timestamp_ms=5))
    assert event.kind is InboundKind.USER_INFO
    assert event.sender.display_name == "Nguyễn Văn A"
    assert event.user_info == {
        "name": "Nguyễn Văn A",
        "phone": "84912345678",
        "address": "Thôn 3",
        "full_address.city": "Đắk Lắk",
        "verified": "true",
    }
    assert event.event_id == f"user_submit_info:{USER}:5"


def test_parse_seen_receipt_gives_one_event_per_message() -> None:
    events = parse(json.dumps(FakeZaloOA().seen_event(USER, ["a1", "a2", "a1"])).encode())
    assert [e.kind for e in events] == [InboundKind.RECEIPT] * 2
    assert [e.message_id for e in events] == ["a1", "a2"]
    assert [e.event_id for e in events] == ["user_seen_message:a1", "user_seen_message:a2"]
    assert {e.chat_id for e in events} == {USER}


def test_parse_received_receipt_without_ids() -> None:
    body = {
        "event_name": "user_received_message",
        "sender": {"id": "oa"},
        "recipient": {"id": USER},
        "timestamp": "9",
    }
    event = one(body)
    assert event.kind is InboundKind.RECEIPT
    assert event.event_id == f"user_received_message:{USER}:9"


def test_parse_group_text() -> None:
    event = one(FakeZaloOA().text_event(USER, "/duty on", group_id="group-77"))
    assert event.is_group is True
    assert event.chat_id == "group-77"
    assert event.sender.platform_user_id == USER
    assert event.kind is InboundKind.COMMAND


@pytest.mark.parametrize(
    "name", ["oa_send_text", "oa_send_image", "anonymous_send_text", "add_user_to_tag", "new_x"]
)
def test_parse_echoes_and_unknown_events_are_ignored(name: str) -> None:
    body = {"event_name": name, "sender": {"id": "oa"}, "message": {"msg_id": "z9"}}
    event = one(body)
    assert event.kind is InboundKind.IGNORED
    assert event.event_id == "z9"


def test_parse_without_msg_id_uses_a_composite_id() -> None:
    body = {"event_name": "user_send_text", "sender": {"id": USER}, "message": {"text": "a"}}
    body["timestamp"] = "123"
    assert one(body).event_id == f"user_send_text:{USER}:123"


@pytest.mark.parametrize(
    "body",
    [
        b"\xff",
        b"not json",
        b"[1]",
        b"{}",
        b'{"event_name":5}',
        b'{"event_name":"user_send_text"}',
        b'{"event_name":"user_send_text","sender":"x","message":{"text":"a"}}',
        b'{"event_name":"user_send_text","sender":{"id":""},"message":{"text":"a"}}',
        b'{"event_name":"user_send_text","sender":{"id":"1"},"message":{"text":5}}',
        b'{"event_name":"user_send_text","sender":{"id":"1"},"message":[]}',
        b'{"event_name":"user_send_image","sender":{"id":"1"},"message":{"attachments":{}}}',
        b'{"event_name":"follow"}',
        b'{"event_name":"user_submit_info","sender":{"id":"1"},"info":[]}',
        b'{"event_name":"user_seen_message","recipient":{"id":"1"},"message":{"msg_ids":[1.5]}}',
        b'{"event_name":"x","timestamp":{}}',
        b'{"event_name":"x","timestamp":NaN}',
    ],
)
def test_malformed_bodies_are_validation_errors(body: bytes) -> None:
    with pytest.raises(ValidationError):
        parse(body)


def test_validation_errors_do_not_echo_the_body() -> None:
    secret_text = "số tài khoản 0123456789"
    body = (
        json.dumps(
            {"event_name": "user_send_text", "sender": {"id": "uid-42"}, "message": {"text": 1}},
        ).encode()
        + secret_text.encode()
    )
    with pytest.raises(ValidationError) as caught:
        parse(body)
    assert secret_text not in str(caught.value)
    assert "uid-42" not in str(caught.value)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
EVENT_NAMES = st.sampled_from(
    [
        "user_send_text",
        "user_send_image",
        "user_send_location",
        "user_send_file",
        "user_send_audio",
        "user_send_sticker",
        "user_send_group_text",
        "user_send_group_image",
        "user_submit_info",
        "user_seen_message",
        "user_received_message",
        "follow",
        "unfollow",
        "oa_send_text",
    ]
)
ENVELOPES = st.fixed_dictionaries(
    {"event_name": EVENT_NAMES},
    optional={
        "app_id": JSON,
        "timestamp": JSON | st.integers().map(str),
        "sender": JSON | st.fixed_dictionaries({"id": JSON | st.text(max_size=5)}),
        "recipient": JSON | st.fixed_dictionaries({"id": JSON}),
        "follower": JSON | st.fixed_dictionaries({"id": JSON}),
        "info": JSON,
        "message": JSON
        | st.fixed_dictionaries(
            {},
            optional={
                "text": JSON,
                "msg_id": JSON,
                "msg_ids": JSON,
                "location": JSON,
                "attachments": st.lists(
                    JSON
                    | st.fixed_dictionaries(
                        {
                            "type": JSON,
                            "payload": JSON | st.dictionaries(st.text(max_size=12), JSON),
                        }
                    ),
                    max_size=3,
                ),
            },
        ),
    },
)


def _parse_or_validation_error(body: bytes) -> None:
    try:
        events = parse(body)
    except ValidationError:
        return
    for event in events:
        assert isinstance(event.event_id, str) and event.event_id
        event.to_json()  # what the inbox stores must serialise


@given(st.binary(max_size=500))
def test_parse_random_bytes_raises_only_validation_error(body: bytes) -> None:
    _parse_or_validation_error(body)


@given(JSON)
def test_parse_random_json_raises_only_validation_error(value: Any) -> None:
    _parse_or_validation_error(json.dumps(value).encode())


@given(ENVELOPES)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_parse_random_envelopes_raise_only_validation_error(envelope: dict[str, Any]) -> None:
    _parse_or_validation_error(json.dumps(envelope).encode())


def test_deeply_nested_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        parse(b"[" * 100_000 + b"]" * 100_000)


# -- sending -------------------------------------------------------------------------------


def recent() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


async def test_reply_quotes_the_inbound_message(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    event = one(fake.text_event(USER, "Có trộm"))
    result = await channel.send(
        Recipient(chat_id=USER, last_inbound_at=recent()),
        OutboundMessage(text="Đã nhận tin báo", reply_to=event.message_id),
        SendPurpose.REPLY,
    )
    (call,) = fake.calls_to("message/cs")
    assert call.params["recipient"] == {"message_id": event.message_id}
    assert call.params["message"] == {"text": "Đã nhận tin báo"}
    assert call.headers["access_token"] == fake.access_token
    assert fake.sent_texts(USER) == ["Đã nhận tin báo"]
    assert result.platform_message_ids == (fake.sent[0].message_id,)
    assert result.quota_note == "reply"


async def test_notification_goes_to_the_user_id(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    result = await channel.send(
        Recipient(chat_id=USER),
        OutboundMessage(text="Lịch trực tuần này"),
        SendPurpose.NOTIFICATION,
    )
    (call,) = fake.calls_to("message/cs")
    assert call.params["recipient"] == {"user_id": USER}
    assert result.quota_note == "sub_quota"


@pytest.mark.parametrize("purpose", [SendPurpose.BROADCAST, SendPurpose.ALERT])
async def test_broadcast_and_alert_are_promotions(
    fake: FakeZaloOA, channel: ZaloOAChannel, purpose: SendPurpose
) -> None:
    message = OutboundMessage(
        text="Cảnh báo lừa đảo\nKhông chuyển tiền cho người lạ.",
        buttons=((Button("Chi tiết", "https://cand.example/a", ButtonKind.URL),),),
        media=Media(MediaKind.PHOTO, "https://cand.example/banner.jpg"),
    )
    await channel.send(Recipient(chat_id=USER), message, purpose)
    assert not fake.calls_to("message/cs")
    (call,) = fake.calls_to("message/promotion")
    assert call.params["recipient"] == {"user_id": USER}
    payload = call.params["message"]["attachment"]["payload"]
    assert payload["template_type"] == "promotion"
    assert payload["elements"] == [
        {"type": "banner", "image_url": "https://cand.example/banner.jpg"},
        {"type": "header", "align": "left", "content": "Cảnh báo lừa đảo"},
        {"type": "text", "align": "left", "content": "Không chuyển tiền cho người lạ."},
    ]
    assert payload["buttons"] == [
        {"title": "Chi tiết", "type": "oa.open.url", "payload": {"url": "https://cand.example/a"}}
    ]
    assert fake.sent_texts(USER) == ["Cảnh báo lừa đảo\nKhông chuyển tiền cho người lạ."]


async def test_promotion_ignores_the_cs_window(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    await channel.send(
        Recipient(chat_id=USER, last_inbound_at=old), OutboundMessage(text="Tin"), SendPurpose.ALERT
    )
    assert len(fake.calls_to("message/promotion")) == 1


async def test_long_text_is_split_with_buttons_on_the_last_part(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    words = " ".join(f"từ{i}" for i in range(1200))  # about 6000 characters
    buttons = (
        (Button("Báo tin", "tip:new"), Button("Trang", "https://x.example", ButtonKind.URL)),
        (Button("Hủy", "tip:cancel"),),
    )
    result = await channel.send(
        Recipient(chat_id=USER), OutboundMessage(text=words, buttons=buttons), SendPurpose.REPLY
    )
    calls = fake.calls_to("message/cs")
    assert len(calls) == len(result.platform_message_ids) >= 3
    texts = [call.params["message"]["text"] for call in calls]
    assert all(len(text) <= 2000 for text in texts)
    assert " ".join(texts) == words
    assert all("attachment" not in call.params["message"] for call in calls[:-1])
    assert calls[-1].params["message"]["attachment"] == {
        "type": "template",
        "payload": {
            "buttons": [
                {"title": "Báo tin", "type": "oa.query.hide", "payload": "#cp:tip:new"},
                {"title": "Trang", "type": "oa.open.url", "payload": {"url": "https://x.example"}},
                {"title": "Hủy", "type": "oa.query.hide", "payload": "#cp:tip:cancel"},
            ]
        },
    }


async def test_a_pressed_button_comes_back_as_its_action(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    await channel.send(
        Recipient(chat_id=USER),
        OutboundMessage(text="Chọn", buttons=((Button("Có", "consent:yes"),),)),
        SendPurpose.REPLY,
    )
    payload = fake.sent[0].buttons[0]["payload"]
    # Zalo sends an oa.query.hide payload back as the person's text.
    body, headers = fake.signed(fake.text_event(USER, payload))
    channel.verify(WebhookRequest(headers=headers, body=body))
    event = one(body)
    assert (event.kind, event.action) == (InboundKind.BUTTON, "consent:yes")


async def test_photo_by_url_and_by_attachment_id(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    await channel.send(
        Recipient(chat_id=USER),
        OutboundMessage(
            text="Ảnh đối tượng",
            media=Media(MediaKind.PHOTO, "https://img.example/p.jpg"),
            buttons=((Button("Báo tin", "tip:new"),),),
        ),
        SendPurpose.NOTIFICATION,
    )
    attachment_id = await channel.upload_image(b"\x89PNG...", "p.png", "image/png")
    await channel.send(
        Recipient(chat_id=USER),
        OutboundMessage(text="", media=Media(MediaKind.PHOTO, attachment_id, caption="Chú thích")),
        SendPurpose.NOTIFICATION,
    )
    first, second = (call.params["message"] for call in fake.calls_to("message/cs"))
    assert first == {
        "text": "Ảnh đối tượng",
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "media",
                "elements": [{"media_type": "image", "url": "https://img.example/p.jpg"}],
                "buttons": [
                    {"title": "Báo tin", "type": "oa.query.hide", "payload": "#cp:tip:new"}
                ],
            },
        },
    }
    assert second["text"] == "Chú thích"
    assert second["attachment"]["payload"]["elements"] == [
        {"media_type": "image", "attachment_id": attachment_id}
    ]


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage(text="x", media=Media(MediaKind.PHOTO, "upload:42")),
        OutboundMessage(text="x", media=Media(MediaKind.VIDEO, "https://v.example/a.mp4")),
        OutboundMessage(text=""),
    ],
)
async def test_unsendable_messages_are_permanent_without_a_call(
    fake: FakeZaloOA, channel: ZaloOAChannel, message: OutboundMessage
) -> None:
    with pytest.raises(PermanentSendError):
        await channel.send(Recipient(chat_id=USER), message, SendPurpose.REPLY)
    assert fake.calls == []


async def test_group_message(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    result = await channel.send(
        Recipient(chat_id="group-77", is_group=True),
        OutboundMessage(text="Họp tổ an ninh lúc 19h", reply_to="m-1"),
        SendPurpose.BROADCAST,
    )
    (call,) = fake.calls_to("message/group")
    assert call.params["recipient"] == {"group_id": "group-77"}
    assert fake.group_texts("group-77") == ["Họp tổ an ninh lúc 19h"]
    assert result.quota_note is None


# -- the windows and Zalo's errors ---------------------------------------------------------


async def test_seven_day_window_is_checked_before_calling(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    old = datetime.now(UTC) - timedelta(days=7, minutes=1)
    with pytest.raises(NotAllowedNow) as caught:
        await channel.send(
            Recipient(chat_id=USER, last_inbound_at=old),
            OutboundMessage(text="Chào"),
            SendPurpose.REPLY,
        )
    assert caught.value.code == "window"
    assert fake.calls == []
    await channel.send(
        Recipient(chat_id=USER, last_inbound_at=old + timedelta(minutes=2)),
        OutboundMessage(text="Chào"),
        SendPurpose.NOTIFICATION,
    )
    assert len(fake.calls) == 1


async def test_zalo_enforces_the_window_too(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    fake.set_last_interaction(USER, datetime.now(UTC) - timedelta(days=8))
    with pytest.raises(NotAllowedNow) as caught:
        await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    assert caught.value.code == "-230"
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.platform_error(-230, "User has not interacted with the OA in 7 days"), "-230"),
        (Fault.platform_error(-224, "OA package does not support this feature"), "-224"),
        (Fault.forbidden("User has not followed the OA"), "-213"),
    ],
)
async def test_not_allowed_now_is_not_retried(
    fake: FakeZaloOA, channel: ZaloOAChannel, fault: Fault, code: str
) -> None:
    fake.fail_next(fault)
    with pytest.raises(NotAllowedNow) as caught:
        await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    assert caught.value.code == code
    assert len(fake.calls) == 1
    assert USER not in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.bad_request("Parameters are invalid"), PermanentSendError),
        (Fault.platform_error(-999, "Something new"), PermanentSendError),
        (Fault.server_error(502), TransientSendError),
        (Fault.server_error(503), TransientSendError),
        (Fault.server_error(404), PermanentSendError),
    ],
)
async def test_error_mapping(
    fake: FakeZaloOA, channel: ZaloOAChannel, fault: Fault, error: type[Exception]
) -> None:
    fake.fail_next(fault)
    with pytest.raises(error):
        await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    assert len(fake.calls) == 1


async def test_rate_limit_is_retry_after(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    fake.fail_next(Fault.rate_limited(7))
    with pytest.raises(RetryAfter) as caught:
        await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    assert caught.value.seconds == 7


async def test_timeout_is_transient(fake: FakeZaloOA) -> None:
    adapter = channel_for(fake, timeout=0.2)
    fake.fail_next(Fault.slow(1.0))
    try:
        with pytest.raises(TransientSendError):
            await adapter.send(
                Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY
            )
    finally:
        await adapter.close()


async def test_unreachable_server_is_transient() -> None:
    adapter = ZaloOAChannel(
        1,
        {"app_id": "1", "oa_secret": "s", "access_token": "t"},
        api_base="http://127.0.0.1:9",
        oauth_base="http://127.0.0.1:9",
        request_timeout=2,
    )
    try:
        with pytest.raises(TransientSendError) as caught:
            await adapter.get_profile(USER)
        assert USER not in str(caught.value)
    finally:
        await adapter.close()


# -- token renewal -------------------------------------------------------------------------


async def test_expired_token_is_renewed_once_and_the_pair_saved(fake: FakeZaloOA) -> None:
    store = MemoryStore(fake.account_secrets())
    adapter = channel_for(fake, store=store)
    fake.expire_access_token()
    try:
        result = await adapter.send(
            Recipient(chat_id=USER), OutboundMessage(text="Chào"), SendPurpose.REPLY
        )
    finally:
        await adapter.close()
    assert result.platform_message_ids
    assert [call.method for call in fake.calls] == ["message/cs", "access_token", "message/cs"]
    assert fake.refresh_count == 1
    refresh = fake.calls_to("access_token")[0]
    assert refresh.headers["secret_key"] == fake.app_secret
    assert refresh.params["grant_type"] == "refresh_token"
    assert store.secrets["access_token"] == fake.access_token
    assert store.secrets["refresh_token"] == fake.refresh_token
    assert isinstance(store.secrets["access_token_expires_at"], int)
    assert LEASE_KEY not in store.secrets
    assert store.secrets["oa_secret"] == fake.oa_secret  # the rest of the secrets kept
    assert fake.calls[-1].headers["access_token"] == fake.access_token


async def test_renewal_without_a_store_keeps_the_pair_in_memory(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    for _ in range(2):  # the second renewal needs the refresh token the first one returned
        fake.expire_access_token()
        await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    assert fake.refresh_count == 2


async def test_http_401_also_renews(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    fake.fail_next(Fault.server_error(401))
    await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    assert fake.refresh_count == 1


async def test_concurrent_sends_of_one_adapter_renew_once(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    fake.expire_access_token()
    await asyncio.gather(
        *(
            channel.send(Recipient(chat_id=USER), OutboundMessage(text=f"{i}"), SendPurpose.REPLY)
            for i in range(5)
        )
    )
    assert len(fake.calls_to("access_token")) == 1
    assert len(fake.sent) == 5


async def test_two_adapters_sharing_a_store_renew_once(fake: FakeZaloOA) -> None:
    store = MemoryStore(fake.account_secrets())
    first = channel_for(fake, store=store)
    second = channel_for(fake, store=store)
    fake.expire_access_token()
    try:
        await asyncio.gather(
            first.send(Recipient(chat_id=USER), OutboundMessage(text="a"), SendPurpose.REPLY),
            second.send(Recipient(chat_id=USER), OutboundMessage(text="b"), SendPurpose.REPLY),
        )
    finally:
        await first.close()
        await second.close()
    assert len(fake.calls_to("access_token")) == 1
    assert sorted(fake.sent_texts(USER)) == ["a", "b"]
    assert store.secrets["access_token"] == fake.access_token
    assert LEASE_KEY not in store.secrets


async def test_an_adapter_adopts_a_pair_another_process_saved(fake: FakeZaloOA) -> None:
    store = MemoryStore(fake.account_secrets())
    stale = channel_for(fake, store=store)
    fresh = channel_for(fake, store=store)
    fake.expire_access_token()
    try:
        await fresh.send(Recipient(chat_id=USER), OutboundMessage(text="a"), SendPurpose.REPLY)
        await stale.send(Recipient(chat_id=USER), OutboundMessage(text="b"), SendPurpose.REPLY)
    finally:
        await stale.close()
        await fresh.close()
    assert fake.refresh_count == 1
    assert fake.calls_to("message/cs")[-1].headers["access_token"] == fake.access_token


async def test_reused_refresh_token_is_account_refused(
    fake: FakeZaloOA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bots.zalo_oa")
    old_secrets = fake.account_secrets()
    other = channel_for(fake)
    fake.expire_access_token()
    await other.send(Recipient(chat_id=USER), OutboundMessage(text="a"), SendPurpose.REPLY)
    await other.close()
    # This adapter still holds the spent refresh token and an expired access token.
    fake.expire_access_token()
    store = MemoryStore(old_secrets)
    adapter = channel_for(fake, secrets=old_secrets, store=store)
    try:
        with pytest.raises(AccountRefused) as caught:
            await adapter.send(
                Recipient(chat_id=USER), OutboundMessage(text="b"), SendPurpose.REPLY
            )
    finally:
        await adapter.close()
    assert "-14020" in str(caught.value)
    assert old_secrets["refresh_token"] not in str(caught.value)
    assert fake.calls[-1].method == "access_token"
    assert LEASE_KEY not in store.secrets  # the lease is released for the next attempt
    assert "-14020" in caplog.text
    for secret in (*old_secrets.values(), fake.refresh_token, USER):
        assert secret not in caplog.text


async def test_refused_refresh_without_a_store_is_account_refused(fake: FakeZaloOA) -> None:
    adapter = channel_for(fake, secrets={**fake.account_secrets(), "refresh_token": "rt-bogus"})
    fake.expire_access_token()
    try:
        with pytest.raises(AccountRefused):
            await adapter.send(
                Recipient(chat_id=USER), OutboundMessage(text="b"), SendPurpose.REPLY
            )
    finally:
        await adapter.close()


async def test_token_refused_after_renewal_is_account_refused(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    refused = Fault.platform_error(-216, "Access token is invalid")
    fake.fail_next(refused)  # the send
    fake.fail_next(Fault.slow(0))  # the renewal goes through
    fake.fail_next(refused)  # the repeated send is refused again
    with pytest.raises(AccountRefused):
        await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    assert [call.method for call in fake.calls] == ["message/cs", "access_token", "message/cs"]


async def test_oauth_outage_is_transient_not_refused(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    fake.expire_access_token()
    fake.fail_next(Fault.platform_error(-216, "expired"))
    fake.fail_next(Fault.server_error(503))
    with pytest.raises(TransientSendError):
        await channel.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)


async def test_lease_of_a_crashed_process_expires(fake: FakeZaloOA) -> None:
    secrets = fake.account_secrets()
    now = datetime.now(UTC)
    store = MemoryStore({**secrets, LEASE_KEY: {"until": now.timestamp() + 0.3, "id": "dead"}})
    adapter = channel_for(fake, store=store)
    fake.expire_access_token()
    try:
        await adapter.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
    finally:
        await adapter.close()
    assert fake.refresh_count == 1
    assert LEASE_KEY not in store.secrets


# -- uploads and profiles ------------------------------------------------------------------


async def test_upload_image(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    attachment_id = await channel.upload_image(b"\xff\xd8" + b"0" * 1000, "a.jpg", "image/jpeg")
    (upload,) = fake.uploads
    assert upload.attachment_id == attachment_id
    assert (upload.filename, upload.content_type, upload.size) == ("a.jpg", "image/jpeg", 1002)


async def test_upload_retries_with_a_fresh_form_after_renewal(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    fake.expire_access_token()
    attachment_id = await channel.upload_image(b"img", "a.png", "image/png")
    assert fake.uploads[0].attachment_id == attachment_id
    assert fake.refresh_count == 1


async def test_upload_over_5_mb_is_refused_without_a_call(
    fake: FakeZaloOA, channel: ZaloOAChannel
) -> None:
    with pytest.raises(ValidationError):
        await channel.upload_image(b"0" * (5 * 1024 * 1024 + 1), "big.jpg", "image/jpeg")
    assert fake.calls == []


async def test_get_profile(fake: FakeZaloOA, channel: ZaloOAChannel) -> None:
    fake.add_user(USER, "Trần Thị B")
    profile = await channel.get_profile(USER)
    assert profile["display_name"] == "Trần Thị B"
    (call,) = fake.calls_to("user/detail")
    assert call.params == {"user_id": USER}
    with pytest.raises(NotAllowedNow):
        await channel.get_profile(OTHER_USER)


async def test_close_leaves_a_given_session_open(fake: FakeZaloOA) -> None:
    async with aiohttp.ClientSession() as session:
        adapter = ZaloOAChannel(
            1,
            fake.account_secrets(),
            api_base=fake.base_url,
            oauth_base=fake.base_url,
            session=session,
        )
        await adapter.send(Recipient(chat_id=USER), OutboundMessage(text="x"), SendPurpose.REPLY)
        await adapter.close()
        assert not session.closed
