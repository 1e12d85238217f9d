"""Zalo OA webhook bodies turned into channel-neutral `InboundEvent`s.

Pure: no I/O, no clock, no secrets. Anything that is not the shape Zalo sends raises
`ValidationError` and nothing else, so the webhook route can answer 400 without guessing.

Numbers are kept as their literal text (``parse_int=str``): Zalo ids such as
``6142494823000000001`` exceed 2**53, and a body that sends one as a JSON number must still
give the exact id back when we reply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from communepol.errors import ValidationError
from communepol.ports import (
    MAX_ACTION_BYTES,
    InboundEvent,
    InboundKind,
    Location,
    Media,
    MediaKind,
    Sender,
    require_text,
    utc_from_epoch,
)
from communepol.text import clean_message

# What a pressed ``oa.query.hide`` button sends back as the person's text: the adapter renders an
# ACTION button's payload as this prefix + the action, and `parse` turns it back into a press.
BUTTON_PREFIX = "#cp:"

# Zalo's webhook bodies are a few kilobytes; anything near this is not Zalo.
MAX_BODY_BYTES = 1024 * 1024

_MAX_ID_LENGTH = 128
_MAX_URL_LENGTH = 4096
_MAX_INFO_DEPTH = 4

_MEDIA_KINDS: dict[str, MediaKind] = {
    "image": MediaKind.PHOTO,
    # MediaKind has no animation; a GIF is an image file, so it is kept as a photo.
    "gif": MediaKind.PHOTO,
    "file": MediaKind.FILE,
    "audio": MediaKind.VOICE,
    "video": MediaKind.VIDEO,
    "sticker": MediaKind.STICKER,
    # A shared link is kept as a file reference to the URL: there is no better media kind and
    # the core must not lose it.
    "link": MediaKind.FILE,
}
_RECEIPTS = frozenset({"user_received_message", "user_seen_message"})
_USER_PREFIX = "user_send_"
_GROUP_PREFIX = "user_send_group_"


class JSONInteger(str):
    """A JSON integer kept as its literal digits (an id may be sent as a number)."""


class JSONFraction(str):
    """A JSON number with a fraction or exponent, kept as its literal text (a coordinate)."""


def load_body(body: bytes) -> Any:
    """The JSON in a webhook body with every number as its literal text, or `ValidationError`.

    The numbers stay `str` subclasses so that a field which must be text (an event name, a
    message) can still tell a number apart from a string."""
    if len(body) > MAX_BODY_BYTES:
        raise ValidationError("the webhook body is too large", field="body")
    try:
        return json.loads(
            bytes(body).decode("utf-8"),
            parse_int=JSONInteger,
            parse_float=JSONFraction,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ``from None``: a decode error carries a slice of the body, which may be a message.
        raise ValidationError("the webhook body is not UTF-8 JSON", field="body") from None


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def parse(body: bytes) -> list[InboundEvent]:
    """The events in one Zalo OA webhook body (usually one; a receipt may confirm several)."""
    envelope = load_body(body)
    if not isinstance(envelope, dict):
        raise ValidationError("the webhook body is not a JSON object", field="body")
    name = _string(envelope.get("event_name"), "event_name", limit=100)
    timestamp = _optional_timestamp(envelope.get("timestamp"))
    base = InboundEvent(
        event_id="",
        kind=InboundKind.IGNORED,
        occurred_at=utc_from_epoch(timestamp, milliseconds=True) if timestamp else None,
    )
    if name.startswith(_GROUP_PREFIX):
        return [_user_message(envelope, name, name[len(_GROUP_PREFIX) :], timestamp, base, True)]
    if name.startswith(_USER_PREFIX):
        return [_user_message(envelope, name, name[len(_USER_PREFIX) :], timestamp, base, False)]
    if name in ("follow", "unfollow"):
        return [_follow(envelope, name, timestamp, base)]
    if name == "user_submit_info":
        return [_submitted_info(envelope, name, timestamp, base)]
    if name in _RECEIPTS:
        return _receipts(envelope, name, timestamp, base)
    # oa_send_* echoes of our own messages, anonymous chats and events we have no use for:
    # well-formed, stored, not acted on.
    return [replace(base, event_id=_loose_event_id(envelope, name, timestamp))]


# -- one function per event family ----------------------------------------------------------


def _user_message(
    envelope: Mapping[str, Any],
    name: str,
    what: str,
    timestamp: str | None,
    base: InboundEvent,
    is_group: bool,
) -> InboundEvent:
    sender_id = _id(_object(envelope.get("sender"), "sender").get("id"), "sender.id")
    message = _object(envelope.get("message"), "message")
    msg_id = _optional_id(message.get("msg_id"), "message.msg_id")
    # In a group the reply goes to the group (recipient.id); in a private chat, to the person.
    chat_id = (
        _id(_object(envelope.get("recipient"), "recipient").get("id"), "recipient.id")
        if is_group
        else sender_id
    )
    event = replace(
        base,
        event_id=msg_id or _composite_id(name, sender_id, timestamp),
        chat_id=chat_id,
        sender=Sender(platform_user_id=sender_id),
        is_group=is_group,
        message_id=msg_id,
    )
    if what == "text":
        return _text(event, message)
    if what == "location":
        return _location(event, message)
    if what in _MEDIA_KINDS:
        return _media(event, message, _MEDIA_KINDS[what])
    return event  # user_send_business_card and the like: kept, not acted on


def _text(event: InboundEvent, message: Mapping[str, Any]) -> InboundEvent:
    text = clean_message(_string(message.get("text"), "message.text"))
    if text.startswith(BUTTON_PREFIX):
        action = text[len(BUTTON_PREFIX) :]
        # Only what our own buttons could have sent counts as a press; anything longer is text
        # someone typed, and conversations still check the action against what they offered.
        if 0 < len(action.encode()) <= MAX_ACTION_BYTES:
            return replace(event, kind=InboundKind.BUTTON, action=action)
    if text.startswith("/") and len(text) > 1 and not text[1].isspace():
        command, *rest = text[1:].split(None, 1)
        # Phone keyboards capitalise the first letter ("/Start"); command words are ASCII.
        return replace(
            event,
            kind=InboundKind.COMMAND,
            text=text,
            command=command.lower(),
            args=rest[0].strip() if rest else "",
        )
    return replace(event, kind=InboundKind.TEXT, text=text)


def _media(event: InboundEvent, message: Mapping[str, Any], default: MediaKind) -> InboundEvent:
    caption = _optional_message_text(message.get("text"))
    media: list[Media] = []
    for index, item in enumerate(_list(message.get("attachments"), "message.attachments")):
        where = f"message.attachments[{index}]"
        attachment = _object(item, where)
        kind_name = _optional_text(attachment.get("type"), f"{where}.type", limit=32)
        payload = _object(attachment.get("payload", {}), f"{where}.payload")
        ref = _optional_text(payload.get("url"), f"{where}.payload.url", limit=_MAX_URL_LENGTH)
        if not ref:
            # Stickers name themselves by id; without a url or an id there is nothing to fetch.
            ref = _optional_id(payload.get("id"), f"{where}.payload.id")
        if not ref:
            continue
        media.append(
            Media(
                kind=_MEDIA_KINDS.get(kind_name or "", default),
                ref=ref,
                name=_optional_text(payload.get("name"), f"{where}.payload.name", limit=1024),
                mime_type=_optional_text(payload.get("type"), f"{where}.payload.type", limit=255),
                size=_optional_size(payload.get("size")),
                caption=caption if not media else None,
            )
        )
    return replace(event, kind=InboundKind.MEDIA, media=tuple(media))


def _location(event: InboundEvent, message: Mapping[str, Any]) -> InboundEvent:
    pair = _coordinates(message)
    if pair is None:
        raise ValidationError("a location event carries no coordinates", field="message")
    latitude = _coordinate(pair[0], "latitude", 90.0)
    longitude = _coordinate(pair[1], "longitude", 180.0)
    title = _optional_message_text(message.get("text"))
    return replace(
        event,
        kind=InboundKind.LOCATION,
        location=Location(latitude=latitude, longitude=longitude, title=title),
    )


def _follow(
    envelope: Mapping[str, Any], name: str, timestamp: str | None, base: InboundEvent
) -> InboundEvent:
    follower_id = _id(_object(envelope.get("follower"), "follower").get("id"), "follower.id")
    return replace(
        base,
        event_id=_composite_id(name, follower_id, timestamp),
        kind=InboundKind.FOLLOW if name == "follow" else InboundKind.UNFOLLOW,
        chat_id=follower_id,
        sender=Sender(platform_user_id=follower_id),
    )


def _submitted_info(
    envelope: Mapping[str, Any], name: str, timestamp: str | None, base: InboundEvent
) -> InboundEvent:
    sender_id = _id(_object(envelope.get("sender"), "sender").get("id"), "sender.id")
    info: dict[str, str] = {}
    _flatten_info(_object(envelope.get("info"), "info"), "", info, 0)
    message = envelope.get("message")
    msg_id = (
        _optional_id(message.get("msg_id"), "message.msg_id") if isinstance(message, dict) else None
    )
    return replace(
        base,
        event_id=msg_id or _composite_id(name, sender_id, timestamp),
        kind=InboundKind.USER_INFO,
        chat_id=sender_id,
        sender=Sender(platform_user_id=sender_id, display_name=info.get("name") or None),
        message_id=msg_id,
        user_info=info,
    )


def _receipts(
    envelope: Mapping[str, Any], name: str, timestamp: str | None, base: InboundEvent
) -> list[InboundEvent]:
    # A receipt goes from the OA to the person: the person is the recipient.
    user_id = _id(_object(envelope.get("recipient"), "recipient").get("id"), "recipient.id")
    raw = envelope.get("message")
    message = _object(raw, "message") if raw is not None else {}
    ids = [
        _id(value, "message.msg_ids[]")
        for value in _list(message.get("msg_ids"), "message.msg_ids")
    ]
    single = _optional_id(message.get("msg_id"), "message.msg_id")
    if not ids and single:
        ids = [single]
    receipt = replace(base, kind=InboundKind.RECEIPT, chat_id=user_id)
    if not ids:
        return [replace(receipt, event_id=_composite_id(name, user_id, timestamp))]
    # One event per confirmed message, so the outbox can mark each delivery. The event name is
    # part of the id: the oa_send_* echo of the same message already uses the bare msg_id.
    return [
        replace(receipt, event_id=f"{name}:{msg_id}", message_id=msg_id)
        for msg_id in dict.fromkeys(ids)
    ]


# -- small readers ---------------------------------------------------------------------------


def _composite_id(name: str, user_id: str, timestamp: str | None) -> str:
    return f"{name}:{user_id}:{timestamp or ''}"


def _loose_event_id(envelope: Mapping[str, Any], name: str, timestamp: str | None) -> str:
    """An id for an event we do not parse: its msg_id, else whoever it concerns and when."""
    message = envelope.get("message")
    if isinstance(message, dict):
        msg_id = message.get("msg_id")
        if isinstance(msg_id, str) and 0 < len(msg_id) <= _MAX_ID_LENGTH:
            return str(msg_id)
    for key in ("sender", "follower", "recipient"):
        party = envelope.get(key)
        if isinstance(party, dict):
            party_id = party.get("id")
            if isinstance(party_id, str) and 0 < len(party_id) <= _MAX_ID_LENGTH:
                return _composite_id(name, str(party_id), timestamp)
    return _composite_id(name, "", timestamp)


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{field} must be an object", field=field)
    return value


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be a list", field=field)
    return value


def _string(value: Any, field: str, *, limit: int = 8192) -> str:
    """Text that must have been a JSON string, not a number."""
    if isinstance(value, JSONInteger | JSONFraction):
        raise ValidationError(f"{field} must be a string", field=field)
    return str(require_text(value, field, limit=limit))


def _id(value: Any, field: str) -> str:
    # Ids are strings in Zalo's bodies, but an integer id is the same id; a fraction is not.
    if isinstance(value, JSONFraction):
        raise ValidationError(f"{field} must be a string", field=field)
    text = str(require_text(value, field, limit=_MAX_ID_LENGTH)).strip()
    if not text:
        raise ValidationError(f"{field} must not be empty", field=field)
    return text


def _optional_timestamp(value: Any) -> str | None:
    """Epoch milliseconds, a string or an integer; kept as text for composite event ids."""
    if value is None:
        return None
    if isinstance(value, JSONFraction):
        raise ValidationError("timestamp must be an integer", field="timestamp")
    return str(require_text(value, "timestamp", limit=32)) or None


def _optional_id(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    return _id(value, field)


def _optional_text(value: Any, field: str, *, limit: int) -> str | None:
    if value is None:
        return None
    return _string(value, field, limit=limit) or None


def _optional_message_text(value: Any) -> str | None:
    if value is None:
        return None
    return clean_message(_string(value, "message.text")) or None


def _optional_size(value: Any) -> int | None:
    # Metadata only: a size Zalo spells oddly is dropped rather than failing the whole event.
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _coordinates(message: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """Latitude and longitude wherever Zalo put them: attachments[].payload.coordinates
    (verified), lat/long spellings and message.location (seen in third-party docs)."""
    places: list[Any] = []
    for item in _list(message.get("attachments"), "message.attachments"):
        payload = _object(item, "message.attachments[]").get("payload")
        if isinstance(payload, dict):
            places += [payload.get("coordinates"), payload]
    places.append(message.get("location"))
    for place in places:
        if not isinstance(place, dict):
            continue
        latitude = place.get("latitude", place.get("lat"))
        longitude = place.get("longitude", place.get("long", place.get("lng")))
        if latitude is not None and longitude is not None:
            return latitude, longitude
    return None


def _coordinate(value: Any, field: str, bound: float) -> float:
    # Numbers arrive as their literal text (parse_float=str); Zalo also sends strings.
    text = require_text(value, field, limit=64)
    try:
        number = float(text)
    except ValueError:
        raise ValidationError(f"{field} is not a number", field=field) from None
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise ValidationError(f"{field} is out of range", field=field)
    return number


def _flatten_info(value: Mapping[str, Any], prefix: str, into: dict[str, str], depth: int) -> None:
    """user_submit_info values as strings; nested objects (full_address) as dotted keys."""
    if depth > _MAX_INFO_DEPTH:
        raise ValidationError("info is nested too deeply", field="info")
    for key, item in value.items():
        name = f"{prefix}{key}"
        if item is None:
            continue
        if isinstance(item, dict):
            _flatten_info(item, f"{name}.", into, depth + 1)
        elif isinstance(item, bool):
            into[name] = "true" if item else "false"
        elif isinstance(item, str):  # numbers too: a phone number may arrive as one
            into[name] = clean_message(str(require_text(item, "info", limit=2000)))
        elif isinstance(item, list) and all(isinstance(part, str) for part in item):
            into[name] = ", ".join(clean_message(str(require_text(p, "info"))) for p in item)
        else:
            # The key is not named: it comes from the body, and messages stay free of input.
            raise ValidationError("an info value has an unexpected type", field="info")


__all__ = ["BUTTON_PREFIX", "MAX_BODY_BYTES", "JSONFraction", "JSONInteger", "load_body", "parse"]
