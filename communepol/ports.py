"""The channel port: what the core knows about a messaging platform, and nothing more.

An adapter (``bots/telegram``, ``bots/zalo_oa``, ``bots/zalo_bot``, ``bots/webchat``) turns a
platform's webhook body into channel-neutral `InboundEvent` values and sends a channel-neutral
`OutboundMessage`, rendering its buttons the platform's own way (Telegram inline keyboards,
Zalo OA query buttons, a numbered list where a platform has none). The core — inbox, outbox
dispatcher, conversations — only ever sees these types.

The send errors, documented here once::

    SendError                   a send did not happen; the dispatcher decides what next
    ├── RetryAfter              the platform said "wait N seconds" (Telegram 429); honour it exactly
    ├── Unreachable             blocked, deactivated, unfollowed, chat not found: never retry
    ├── NotAllowedNow           a platform quota or window forbids it (Zalo -224/-230/-213):
    │                           recorded and shown to staff, not retried blindly
    ├── TransientSendError      5xx, timeout, connection reset: back off with jitter and retry
    ├── PermanentSendError      the platform rejected the message itself (400): dead letter
    └── AccountRefused          the platform refused the account's credentials (revoked token,
                                reused refresh token): the account is marked broken, its
                                sending stops until staff fix it; the message is kept

Every error's message is safe to store and show: adapters never put a platform user id,
a token or message text into it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import orjson

from communepol.errors import CommunepolError, ValidationError

# The longest button action the core may use. Telegram's callback_data holds 64 bytes; the
# adapters add nothing to it, so every platform can carry an action of this size.
MAX_ACTION_BYTES = 64


class InboundKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"  # "/start payload", "/duty on"
    BUTTON = "button"  # a pressed button (or its number typed where there are no buttons)
    LOCATION = "location"
    MEDIA = "media"  # photo, file, voice/audio, video, sticker
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    USER_INFO = "user_info"  # Zalo OA user_submit_info: name/phone/address the person shared
    RECEIPT = "receipt"  # delivered/seen receipts, where the platform sends them
    IGNORED = "ignored"  # a well-formed event the service has no use for (stored, not acted on)


class MediaKind(StrEnum):
    PHOTO = "photo"
    FILE = "file"
    VOICE = "voice"
    VIDEO = "video"
    STICKER = "sticker"


@dataclass(frozen=True)
class Sender:
    """Who sent an event, as the platform says. Sealed before storage, never logged."""

    platform_user_id: str
    display_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    title: str | None = None


@dataclass(frozen=True)
class Media:
    """A file the platform holds: ``ref`` is a Telegram file_id or a Zalo URL/attachment id."""

    kind: MediaKind
    ref: str
    name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    caption: str | None = None


@dataclass(frozen=True)
class InboundEvent:
    """One platform event, channel-neutral.

    ``event_id`` is the platform's own id for it (Telegram ``update_id``, Zalo ``msg_id``, or a
    composite where an event has none); the inbox stores an event once per (account, event_id).
    ``chat_id`` is where a reply goes: the person for a private chat, the group for a group
    message (then ``sender`` is the member who wrote). Text is already NFC-normalised.
    """

    event_id: str
    kind: InboundKind
    chat_id: str | None = None
    sender: Sender | None = None
    is_group: bool = False
    message_id: str | None = None
    text: str | None = None
    command: str | None = None
    args: str = ""
    action: str | None = None  # the pressed button's action
    callback_id: str | None = None  # Telegram: must be answered to stop the client's spinner
    location: Location | None = None
    media: tuple[Media, ...] = ()
    user_info: Mapping[str, str] | None = None
    occurred_at: datetime | None = None

    def to_json(self) -> str:
        # Built by hand and only with the fields that are set: dataclasses.asdict deep-copies
        # every field, and this runs once per webhook event.
        value: dict[str, Any] = {"event_id": self.event_id, "kind": self.kind.value}
        for name in ("chat_id", "message_id", "text", "command", "action", "callback_id"):
            field_value = getattr(self, name)
            if field_value is not None:
                value[name] = field_value
        if self.args:
            value["args"] = self.args
        if self.is_group:
            value["is_group"] = True
        sender = self.sender
        if sender is not None:
            value["sender"] = {
                "platform_user_id": sender.platform_user_id,
                "display_name": sender.display_name,
                "language_code": sender.language_code,
            }
        location = self.location
        if location is not None:
            value["location"] = {
                "latitude": location.latitude,
                "longitude": location.longitude,
                "title": location.title,
            }
        if self.media:
            value["media"] = [
                {
                    "kind": m.kind.value,
                    "ref": m.ref,
                    "name": m.name,
                    "mime_type": m.mime_type,
                    "size": m.size,
                    "caption": m.caption,
                }
                for m in self.media
            ]
        if self.user_info is not None:
            value["user_info"] = dict(self.user_info)
        if self.occurred_at is not None:
            value["occurred_at"] = self.occurred_at.isoformat()
        try:
            return orjson.dumps(value).decode("utf-8")
        except orjson.JSONEncodeError:
            # A lone surrogate an adapter let through: escaped rather than refused.
            return json.dumps(value, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> InboundEvent:
        value: dict[str, Any] = orjson.loads(raw)
        sender = value.get("sender")
        location = value.get("location")
        occurred_at = value.get("occurred_at")
        return cls(
            event_id=value["event_id"],
            kind=InboundKind(value["kind"]),
            chat_id=value.get("chat_id"),
            sender=Sender(**sender) if sender else None,
            is_group=bool(value.get("is_group")),
            message_id=value.get("message_id"),
            text=value.get("text"),
            command=value.get("command"),
            args=value.get("args") or "",
            action=value.get("action"),
            callback_id=value.get("callback_id"),
            location=Location(**location) if location else None,
            media=tuple(_media(m) for m in value.get("media") or ()),
            user_info=value.get("user_info"),
            occurred_at=datetime.fromisoformat(occurred_at) if occurred_at else None,
        )


def _media(value: Mapping[str, Any]) -> Media:
    return Media(**{**value, "kind": MediaKind(value["kind"])})


class ButtonKind(StrEnum):
    ACTION = "action"  # comes back as an InboundEvent of kind BUTTON with this action
    URL = "url"  # opens a link
    LOCATION = "location"  # asks for the person's location (Telegram private chats only)


@dataclass(frozen=True)
class Button:
    label: str
    action: str = ""  # ACTION: the action; URL: the link
    kind: ButtonKind = ButtonKind.ACTION

    def __post_init__(self) -> None:
        if self.kind is ButtonKind.ACTION and not 0 < len(self.action.encode()) <= MAX_ACTION_BYTES:
            raise ValidationError(
                f"a button action must be 1-{MAX_ACTION_BYTES} bytes of UTF-8", field="action"
            )


@dataclass(frozen=True)
class OutboundMessage:
    """What to say. ``buttons`` are rows of buttons; ``reply_to`` is the inbound message id
    being answered (Zalo OA counts a cs reply that quotes it as a free reply)."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    media: Media | None = None
    reply_to: str | None = None

    @property
    def flat_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]

    def to_payload(self) -> dict[str, Any]:
        """The JSON stored in the outbox row."""
        payload: dict[str, Any] = {"text": self.text}
        if self.buttons:
            payload["buttons"] = [
                [{"label": b.label, "action": b.action, "kind": b.kind.value} for b in row]
                for row in self.buttons
            ]
        if self.media is not None:
            payload["media"] = {k: v for k, v in asdict(self.media).items() if v is not None}
        if self.reply_to:
            payload["reply_to"] = self.reply_to
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> OutboundMessage:
        media = payload.get("media")
        return cls(
            text=str(payload.get("text", "")),
            buttons=tuple(
                tuple(
                    Button(label=b["label"], action=b["action"], kind=ButtonKind(b["kind"]))
                    for b in row
                )
                for row in payload.get("buttons", ())
            ),
            media=_media(media) if media else None,
            reply_to=payload.get("reply_to"),
        )


class SendPurpose(StrEnum):
    """Why a message is sent: Zalo OA picks its endpoint (cs reply or promotion) by it."""

    REPLY = "reply"
    NOTIFICATION = "notification"
    ALERT = "alert"
    BROADCAST = "broadcast"


@dataclass(frozen=True)
class Recipient:
    """Where a message goes, opened from the sealed contact only at send time."""

    chat_id: str
    is_group: bool = False
    last_inbound_at: datetime | None = None  # Zalo OA: the 48-hour free-reply window
    last_inbound_message_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    platform_message_ids: tuple[str, ...] = ()  # one per part when a long text was split
    quota_note: str | None = None  # e.g. which Zalo quota the message was counted against


@dataclass(frozen=True)
class WebhookRequest:
    """What an adapter needs from an HTTP request to verify and parse it."""

    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, its name matched without regard to case: aiohttp's headers are
        case-insensitive, a plain dict (tests, another server) is not."""
        value = self.headers.get(name)
        if value is not None:
            return value
        wanted = name.lower()
        for key, candidate in self.headers.items():
            if key.lower() == wanted:
                return candidate
        return None


class SendError(CommunepolError):
    """A send did not happen. Subclasses say what the dispatcher should do about it."""


class RetryAfter(SendError):
    def __init__(self, seconds: float, message: str = "rate limited by the platform") -> None:
        super().__init__(f"{message}: retry after {seconds:g} s")
        self.seconds = seconds


class Unreachable(SendError):
    """The recipient blocked the bot, left, was deactivated, or the chat does not exist."""


class NotAllowedNow(SendError):
    """A platform quota or messaging window forbids this send now."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientSendError(SendError):
    """The platform or the network failed; the same send may succeed later."""


class PermanentSendError(SendError):
    """The platform refused this message as malformed; retrying will not help."""


class AccountRefused(SendError):
    """The platform refused this channel account's credentials."""


class WebhookRejected(CommunepolError):
    """A webhook failed its secret or signature check (answered 401, nothing stored)."""

    http_status = 401


@runtime_checkable
class Channel(Protocol):
    """One channel account's adapter. Built by ``bots.registry`` from the account's secrets."""

    account_id: int
    supports_buttons: bool  # False: buttons are shown as a numbered list
    max_text_length: int

    def verify(self, request: WebhookRequest) -> None:
        """Raise `WebhookRejected` unless the request carries the right secret or signature.
        Compares in constant time, on the exact raw bytes."""

    def parse(self, body: bytes) -> Sequence[InboundEvent]:
        """The events in a webhook body; raise `ValidationError` if it is malformed."""

    async def send(
        self, recipient: Recipient, message: OutboundMessage, purpose: SendPurpose
    ) -> SendResult:
        """Send, or raise a `SendError`."""

    async def acknowledge(self, event: InboundEvent) -> None:
        """Platform courtesy after an event is handled (Telegram answerCallbackQuery)."""

    async def close(self) -> None: ...


@runtime_checkable
class Pollable(Protocol):
    """An adapter whose platform can also be polled, for a station with no public URL
    (Telegram getUpdates, Zalo Bot getUpdates), and whose webhook is set through the API."""

    async def set_webhook(self, url: str) -> None:
        """Point the platform at ``url``, with this account's webhook secret."""

    async def remove_webhook(self) -> None: ...

    async def get_updates(
        self, offset: str | None, wait_seconds: int
    ) -> tuple[Sequence[InboundEvent], str | None]:
        """Events waiting on the platform and the offset that confirms them. The caller stores
        the events in the inbox *before* asking again with the new offset."""


@runtime_checkable
class SecretsStore(Protocol):
    """Where an adapter reads and atomically replaces its account's secrets (a Zalo OA token
    refresh returns a new single-use refresh token that must be saved with its access token)."""

    async def load(self) -> tuple[dict[str, Any], int]:
        """The secrets and their version."""

    async def replace(self, secrets: Mapping[str, Any], expected_version: int) -> bool:
        """Save ``secrets`` if the stored version is still ``expected_version``; False if
        another process saved first (then `load` again)."""


def utc_from_epoch(value: Any, *, milliseconds: bool = False) -> datetime | None:
    """A platform timestamp (seconds or ms, number or numeric string) as aware UTC, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if milliseconds:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def numbered_options(text: str, buttons: Sequence[Button]) -> str:
    """Buttons as a numbered list under the text, for platforms without buttons: the kit
    treats a reply "2" as pressing the second button."""
    lines = [text] if text else []
    lines += [f"{number}. {button.label}" for number, button in enumerate(buttons, start=1)]
    return "\n".join(lines)


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, preferring line breaks, then
    spaces, never inside a combining sequence (Vietnamese diacritics stay on their letter)."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
            while cut > 1 and _is_combining(rest[cut]):
                cut -= 1
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n ") if rest[cut : cut + 1] in ("\n", " ") else rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts


def _is_combining(char: str) -> bool:
    return unicodedata.combining(char) != 0


def require_text(value: Any, field_name: str, *, limit: int = 8192) -> str:
    """A string from a parsed platform payload, or `ValidationError` naming the field."""
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} must be a string", field=field_name)
    if len(value) > limit:
        raise ValidationError(f"{field_name} is longer than {limit} characters", field=field_name)
    return value


__all__ = [
    "MAX_ACTION_BYTES",
    "AccountRefused",
    "Button",
    "ButtonKind",
    "Channel",
    "InboundEvent",
    "InboundKind",
    "Location",
    "Media",
    "MediaKind",
    "NotAllowedNow",
    "OutboundMessage",
    "PermanentSendError",
    "Pollable",
    "Recipient",
    "RetryAfter",
    "SecretsStore",
    "SendError",
    "SendPurpose",
    "SendResult",
    "Sender",
    "TransientSendError",
    "Unreachable",
    "WebhookRejected",
    "WebhookRequest",
    "numbered_options",
    "split_text",
    "utc_from_epoch",
]
