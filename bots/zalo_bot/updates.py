"""Zalo Bot API updates → channel-neutral `InboundEvent` values.

One update is ``{"event_name": "message.text.received", "message": {...}}``. The webhook may
deliver it bare or wrapped as ``{"ok": true, "result": {...}}`` (sources disagree), and the
sender's name and a photo's URL go by several field names, so every known variant is read.

Parsing is pure and total: any input either becomes events or raises `ValidationError`, whose
message names the field but never repeats a value (ids and text are personal data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from communepol.errors import ValidationError
from communepol.ports import (
    InboundEvent,
    InboundKind,
    Media,
    MediaKind,
    Sender,
    require_text,
    utc_from_epoch,
)
from communepol.text import clean, clean_message

TEXT_RECEIVED = "message.text.received"
IMAGE_RECEIVED = "message.image.received"
STICKER_RECEIVED = "message.sticker.received"
UNSUPPORTED_RECEIVED = "message.unsupported.received"

# The inbox keys an event by (account, platform_event_id) in a 128-character column.
MAX_ID_LENGTH = 128
_MAX_EVENT_NAME = 64
_MAX_NAME = 256
_MAX_URL = 4096
_MAX_TEXT = 8192


def parse_body(body: bytes) -> list[InboundEvent]:
    """The events in a webhook body (one update, bare or wrapped)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError("the webhook body is not UTF-8", field="body") from None
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and over-long integer literals; RecursionError a
        # hostile nesting depth. Neither message is kept: it quotes the body.
        raise ValidationError("the webhook body is not JSON", field="body") from None
    if not isinstance(value, dict):
        raise ValidationError("the webhook body is not a JSON object", field="body")
    return [parse_update(value)]


def parse_update(value: dict[str, Any]) -> InboundEvent:
    """One update as an event; raise `ValidationError` if it is malformed."""
    update = _unwrap(value)
    event_name = _string(update.get("event_name"), "event_name", _MAX_EVENT_NAME)
    message = update.get("message")
    if not isinstance(message, dict):
        raise ValidationError("message must be an object", field="message")

    message_id = _optional_id(message.get("message_id"), "message.message_id")
    date = message.get("date")
    if isinstance(date, str):
        date = _string(date, "message.date", 32)
    elif date is not None and (isinstance(date, bool) or not isinstance(date, int | float)):
        raise ValidationError("message.date must be a number", field="message.date")
    chat_id, is_group = _chat(message.get("chat"))
    sender = _sender(message.get("from"), chat_id if not is_group else None)

    base: dict[str, Any] = {
        "event_id": message_id or _fallback_event_id(event_name, chat_id, date),
        "chat_id": chat_id,
        "sender": sender,
        "is_group": is_group,
        "message_id": message_id,
        "occurred_at": _occurred_at(date),
    }
    if event_name not in (TEXT_RECEIVED, IMAGE_RECEIVED, STICKER_RECEIVED):
        # message.unsupported.received (files, voice, locations the bot cannot see) and any
        # event this code does not know yet: stored for the record, never acted on.
        return InboundEvent(kind=InboundKind.IGNORED, **base)

    # A message the service may answer needs somewhere to answer and someone to answer.
    if chat_id is None:
        raise ValidationError("message.chat.id is missing", field="message.chat.id")
    if sender is None:
        raise ValidationError("message.from.id is missing", field="message.from.id")

    if event_name == TEXT_RECEIVED:
        return _text_event(message, base)
    if event_name == IMAGE_RECEIVED:
        url = _first_string(message, ("photo_url", "photo", "url"), "message.photo_url", _MAX_URL)
        if url is None:
            raise ValidationError("the image has no URL", field="message.photo_url")
        caption = _optional_message_text(message.get("caption"), "message.caption")
        photo = Media(kind=MediaKind.PHOTO, ref=url, caption=caption)
        return InboundEvent(kind=InboundKind.MEDIA, text=caption, media=(photo,), **base)
    ref = _first_string(message, ("sticker", "url"), "message.sticker", _MAX_URL)
    if ref is None:
        raise ValidationError("the sticker has no id", field="message.sticker")
    sticker = Media(kind=MediaKind.STICKER, ref=ref)
    return InboundEvent(kind=InboundKind.MEDIA, media=(sticker,), **base)


def _unwrap(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if "event_name" in value or "result" not in value:
        return value
    if value.get("ok") is not True:
        raise ValidationError("the wrapped update is not ok", field="ok")
    result = value["result"]
    if not isinstance(result, dict):
        raise ValidationError("result must be an object", field="result")
    return result


def _text_event(message: Mapping[str, Any], base: dict[str, Any]) -> InboundEvent:
    text = clean_message(_string(message.get("text"), "message.text", _MAX_TEXT))
    rest = text[1:]
    # "/start page-12", "/tip\nthe details": the word after the slash is the command, the
    # rest its arguments. A lone "/" or "/ something" is just text.
    if text.startswith("/") and rest and not rest[0].isspace():
        word, *args = rest.split(None, 1)
        return InboundEvent(
            kind=InboundKind.COMMAND,
            text=text,
            command=word.lower(),
            args=args[0] if args else "",
            **base,
        )
    return InboundEvent(kind=InboundKind.TEXT, text=text, **base)


def _chat(value: Any) -> tuple[str | None, bool]:
    if value is None:
        return None, False
    if not isinstance(value, dict):
        raise ValidationError("message.chat must be an object", field="message.chat")
    chat_id = _optional_id(value.get("id"), "message.chat.id")
    chat_type = value.get("chat_type")
    if chat_type is not None and not isinstance(chat_type, str):
        raise ValidationError("message.chat.chat_type must be a string", field="message.chat")
    return chat_id, (chat_type or "").upper() == "GROUP"


def _sender(value: Any, private_chat_id: str | None) -> Sender | None:
    if value is None:
        # In a private chat the chat id is the person's id (platform docs).
        return Sender(platform_user_id=private_chat_id) if private_chat_id else None
    if not isinstance(value, dict):
        raise ValidationError("message.from must be an object", field="message.from")
    user_id = _optional_id(value.get("id"), "message.from.id") or private_chat_id
    if user_id is None:
        return None
    return Sender(platform_user_id=user_id, display_name=_display_name(value))


def _display_name(value: Mapping[str, Any]) -> str | None:
    # The docs sample says first_name, the SDKs display_name, openclaw name: read all three.
    # A name is decoration, so an odd one is dropped rather than failing the whole message.
    for key in ("first_name", "display_name", "name"):
        name = value.get(key)
        if isinstance(name, str) and _storable(name):
            name = clean(name)[:_MAX_NAME]
            if name:
                return name
    return None


def _first_string(
    message: Mapping[str, Any], keys: tuple[str, ...], field: str, limit: int
) -> str | None:
    for key in keys:
        value = message.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            # Some variants may carry an object here; only a URL or an id string is usable.
            continue
        return _string(value, field, limit)
    return None


def _optional_message_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    return clean_message(_string(value, field, _MAX_TEXT)) or None


def _optional_id(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"{field} must be a string", field=field)
    text = _string(str(value), field, MAX_ID_LENGTH)
    return text or None


def _string(value: Any, field: str, limit: int) -> str:
    text = require_text(value, field, limit=limit)
    if not _storable(text):
        raise ValidationError(f"{field} holds characters that cannot be stored", field=field)
    return text


def _storable(text: str) -> bool:
    """False for a lone surrogate (not UTF-8, fails on insert) or NUL (PostgreSQL refuses it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _occurred_at(date: Any) -> datetime | None:
    try:
        return utc_from_epoch(date, milliseconds=True)
    except OverflowError:
        # utc_from_epoch lets float() of a huge integer escape; such a date is no date.
        return None


def _fallback_event_id(event_name: str, chat_id: str | None, date: Any) -> str:
    event_id = f"{event_name}:{chat_id or ''}:{date if date is not None else ''}"
    if len(event_id) <= MAX_ID_LENGTH:
        return event_id
    # Still deterministic, so a redelivered event is still recognised as one.
    return "h:" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()


def ignored_event(raw: bytes) -> InboundEvent:
    """A malformed polled update kept as an IGNORED event named by the digest of the raw
    answer, so one bad update cannot stall the poller and a redelivery is stored once."""
    return InboundEvent(
        event_id="malformed:" + hashlib.sha256(raw).hexdigest(), kind=InboundKind.IGNORED
    )
