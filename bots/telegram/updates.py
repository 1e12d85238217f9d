"""Telegram Bot API updates → channel-neutral `InboundEvent` values.

A webhook body is one ``Update`` object; ``getUpdates`` returns a list of them. Both go through
`parse_update`, which reads only the fields the service uses and checks their types by hand:
validating the whole ``Update`` with aiogram's pydantic models would cost several times more
per webhook, and the intake path is measured in updates per second.

Parsing is pure and total: any input either becomes an event or raises `ValidationError`, whose
message names the field but never repeats a value (ids and text are personal data).
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from communepol.errors import ValidationError
from communepol.ports import (
    InboundEvent,
    InboundKind,
    Location,
    Media,
    MediaKind,
    Sender,
    utc_from_epoch,
)
from communepol.text import clean, clean_message

# Telegram sends updates of a few kilobytes; anything near this is not from Telegram.
MAX_BODY_BYTES = 1 << 20
# Telegram ids fit in 52 bits; anything wider cannot be one and would not fit a BIGINT column.
_MAX_ID = 1 << 62
_MAX_TEXT = 8192  # 4096 UTF-16 units at most, so never more than 4096 code points; slack kept
_MAX_SHORT = 256
_MAX_FILE_ID = 1024
_GROUP_TYPES = frozenset({"group", "supergroup"})


def parse_body(body: bytes) -> list[InboundEvent]:
    """The event in a webhook body; raise `ValidationError` if it is malformed."""
    if len(body) > MAX_BODY_BYTES:
        raise ValidationError("the webhook body is too large", field="body")
    try:
        # orjson accepts only UTF-8, refuses NaN/Infinity, integers wider than 64 bits, lone
        # surrogates and nesting deeper than 1024 — all of which are not Telegram's — and is
        # several times faster than json on the intake path.
        value = orjson.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, NaN/Infinity and over-long integer literals;
        # RecursionError a hostile nesting depth. Their messages quote the body, so none is kept.
        raise ValidationError("the webhook body is not JSON", field="body") from None
    if not isinstance(value, dict):
        raise ValidationError("the webhook body is not a JSON object", field="body")
    return [parse_update(value)]


def parse_update(value: dict[str, Any]) -> InboundEvent:
    """One update as an event; raise `ValidationError` if it is malformed."""
    if not isinstance(value, dict):
        raise ValidationError("an update must be a JSON object", field="update")
    update_id = _id(value.get("update_id"), "update_id")
    if update_id < 0:
        raise ValidationError("update_id must not be negative", field="update_id")
    event_id = str(update_id)

    message = value.get("message")
    if message is not None:
        return _message_event(event_id, message)
    query = value.get("callback_query")
    if query is not None:
        return _callback_event(event_id, query)
    member = value.get("my_chat_member")
    if member is not None:
        return _member_event(event_id, member)
    # edited_message, channel_post, chat_member, message_reaction, …: kept, not acted on.
    return InboundEvent(event_id=event_id, kind=InboundKind.IGNORED, chat_id=loose_chat_id(value))


def loose_chat_id(update: Any) -> str | None:
    """The chat of an update the service ignores, when it can be read without failing."""
    if not isinstance(update, dict):
        return None
    for key, inner in update.items():
        if key == "update_id" or not isinstance(inner, dict):
            continue
        chat = inner.get("chat")
        if chat is None and isinstance(inner.get("message"), dict):
            chat = inner["message"].get("chat")
        if isinstance(chat, dict):
            chat_id = chat.get("id")
            if type(chat_id) is int and -_MAX_ID < chat_id < _MAX_ID:
                return str(chat_id)
    return None


def _message_event(event_id: str, value: Any) -> InboundEvent:
    message = _object(value, "message")
    chat = _object(message.get("chat"), "message.chat")
    chat_type = _string(chat.get("type"), "message.chat.type", 32)
    base: dict[str, Any] = {
        "event_id": event_id,
        "chat_id": str(_id(chat.get("id"), "message.chat.id")),
        "sender": _sender(message.get("from"), "message.from"),
        "is_group": chat_type in _GROUP_TYPES,
        "message_id": str(_id(message.get("message_id"), "message.message_id")),
        "occurred_at": utc_from_epoch(_id(message.get("date"), "message.date")),
    }
    if chat_type == "channel":
        return InboundEvent(kind=InboundKind.IGNORED, **base)

    raw_text = message.get("text")
    if raw_text is not None:
        text = _message_text(raw_text, "message.text")
        if text.startswith("/"):
            command, args = _command(text)
            if command:
                return InboundEvent(
                    kind=InboundKind.COMMAND, text=text, command=command, args=args, **base
                )
        return InboundEvent(kind=InboundKind.TEXT, text=text, **base)

    location = message.get("location")
    if location is not None:
        venue = message.get("venue")
        title = None
        if isinstance(venue, dict) and venue.get("title") is not None:
            title = clean(_string(venue["title"], "message.venue.title", _MAX_SHORT)) or None
        return InboundEvent(kind=InboundKind.LOCATION, location=_location(location, title), **base)

    raw_caption = message.get("caption")
    caption = None
    if raw_caption is not None:
        caption = _message_text(raw_caption, "message.caption") or None
    media = _media(message, caption)
    if media is not None:
        return InboundEvent(kind=InboundKind.MEDIA, text=caption, media=(media,), **base)
    # Service messages (members joined, pinned, …), polls, contacts, dice: nothing to act on.
    return InboundEvent(kind=InboundKind.IGNORED, **base)


def _callback_event(event_id: str, value: Any) -> InboundEvent:
    query = _object(value, "callback_query")
    callback_id = _string(query.get("id"), "callback_query.id", _MAX_SHORT)
    sender = _sender(query.get("from"), "callback_query.from")
    if sender is None:
        raise ValidationError("callback_query.from is required", field="callback_query.from")
    chat_id = sender.platform_user_id
    message_id = None
    is_group = False
    message = query.get("message")
    if message is not None:
        # Also an InaccessibleMessage (date 0): it still names its chat and message id.
        message = _object(message, "callback_query.message")
        chat = _object(message.get("chat"), "callback_query.message.chat")
        chat_id = str(_id(chat.get("id"), "callback_query.message.chat.id"))
        is_group = _string(chat.get("type"), "callback_query.message.chat.type", 32) in (
            _GROUP_TYPES
        )
        message_id = str(_id(message.get("message_id"), "callback_query.message.message_id"))
    data = query.get("data")
    # A game button carries no data; it is still answered, so the callback id is kept.
    kind = InboundKind.BUTTON if data is not None else InboundKind.IGNORED
    return InboundEvent(
        event_id=event_id,
        kind=kind,
        chat_id=chat_id,
        sender=sender,
        is_group=is_group,
        message_id=message_id,
        action=_string(data, "callback_query.data", _MAX_SHORT) if data is not None else None,
        callback_id=callback_id,
    )


def _member_event(event_id: str, value: Any) -> InboundEvent:
    member = _object(value, "my_chat_member")
    chat = _object(member.get("chat"), "my_chat_member.chat")
    chat_type = _string(chat.get("type"), "my_chat_member.chat.type", 32)
    new_member = _object(member.get("new_chat_member"), "my_chat_member.new_chat_member")
    status = _string(new_member.get("status"), "my_chat_member.new_chat_member.status", 32)
    kind = InboundKind.IGNORED
    # In a private chat this is the person blocking ("kicked") or unblocking/starting the bot;
    # in a group it is the bot being added or removed, which the group conversation ignores.
    if chat_type == "private":
        kind = {"kicked": InboundKind.UNFOLLOW, "member": InboundKind.FOLLOW}.get(status, kind)
    return InboundEvent(
        event_id=event_id,
        kind=kind,
        chat_id=str(_id(chat.get("id"), "my_chat_member.chat.id")),
        sender=_sender(member.get("from"), "my_chat_member.from"),
        is_group=chat_type in _GROUP_TYPES,
        occurred_at=utc_from_epoch(_id(member.get("date"), "my_chat_member.date")),
    )


def _command(text: str) -> tuple[str, str]:
    """``/start@my_bot page-12`` → ("start", "page-12"); ("", "") when there is no name."""
    head, *rest = text.split(None, 1)  # any whitespace, a line break included, ends the name
    return head[1:].split("@", 1)[0].lower(), rest[0].strip() if rest else ""


def _location(value: Any, title: str | None) -> Location:
    location = _object(value, "message.location")
    return Location(
        latitude=_coordinate(location.get("latitude"), "message.location.latitude", 90.0),
        longitude=_coordinate(location.get("longitude"), "message.location.longitude", 180.0),
        title=title,
    )


def _media(message: dict[str, Any], caption: str | None) -> Media | None:
    photo = message.get("photo")
    if photo is not None:
        if not isinstance(photo, list) or not photo:
            raise ValidationError("message.photo must be a non-empty list", field="message.photo")
        # Sizes come smallest first; the last one is the full picture.
        return _file(photo[-1], "message.photo", MediaKind.PHOTO, caption)
    # An animation also carries "document" for old clients, so it is looked at first.
    for key, kind in _MEDIA_FIELDS:
        value = message.get(key)
        if value is not None:
            return _file(value, f"message.{key}", kind, caption)
    return None


_MEDIA_FIELDS = (
    ("animation", MediaKind.VIDEO),
    ("document", MediaKind.FILE),
    ("voice", MediaKind.VOICE),
    ("audio", MediaKind.VOICE),
    ("video", MediaKind.VIDEO),
    ("video_note", MediaKind.VIDEO),
    ("sticker", MediaKind.STICKER),
)


def _file(value: Any, field: str, kind: MediaKind, caption: str | None) -> Media:
    file = _object(value, field)
    name = file.get("file_name")
    mime_type = file.get("mime_type")
    size = file.get("file_size")
    return Media(
        kind=kind,
        ref=_string(file.get("file_id"), f"{field}.file_id", _MAX_FILE_ID),
        name=clean(_string(name, f"{field}.file_name", _MAX_SHORT)) or None
        if name is not None
        else None,
        mime_type=_string(mime_type, f"{field}.mime_type", _MAX_SHORT)
        if mime_type is not None
        else None,
        size=_size(size, f"{field}.file_size") if size is not None else None,
        caption=caption,
    )


def _sender(value: Any, field: str) -> Sender | None:
    if value is None:
        return None  # channel posts, anonymous group admins
    user = _object(value, field)
    first_name = user.get("first_name")
    last_name = user.get("last_name")
    language = user.get("language_code")
    names = [
        _string(name, f"{field}.name", _MAX_SHORT)
        for name in (first_name, last_name)
        if name is not None
    ]
    return Sender(
        platform_user_id=str(_id(user.get("id"), f"{field}.id")),
        display_name=clean(" ".join(names)).replace("\x00", "") or None,
        language_code=_string(language, f"{field}.language_code", 35) or None
        if language is not None
        else None,
    )


def _message_text(value: Any, field: str) -> str:
    # PostgreSQL text and jsonb refuse NUL; nobody types one.
    return clean_message(_string(value, field, _MAX_TEXT)).replace("\x00", "")


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{field} must be an object", field=field)
    return value


def _id(value: Any, field: str) -> int:
    # type() rather than isinstance(): JSON true/false arrive as bool, a subclass of int.
    if type(value) is not int or not -_MAX_ID < value < _MAX_ID:
        raise ValidationError(f"{field} must be an integer id", field=field)
    return value


def _size(value: Any, field: str) -> int:
    if type(value) is not int or not 0 <= value < _MAX_ID:
        raise ValidationError(f"{field} must be a size in bytes", field=field)
    return value


def _coordinate(value: Any, field: str, bound: float) -> float:
    # The bound is checked first: math.isfinite would overflow on a 400-digit integer.
    if type(value) not in (int, float) or abs(value) > bound or not math.isfinite(value):
        raise ValidationError(f"{field} must be a coordinate", field=field)
    return float(value)


def _string(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field=field)
    if not value.isascii():
        try:
            # A lone surrogate escape ("\ud800") decodes, but cannot be stored or sent on.
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"{field} is not valid Unicode", field=field) from None
    return value
