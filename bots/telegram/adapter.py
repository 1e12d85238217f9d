"""The Telegram channel: one bot account, spoken to through aiogram's Bot API client.

`TelegramChannel` implements `communepol.ports.Channel` (verify and parse webhooks, send,
answer callback queries), `communepol.ports.Pollable` (set or remove the webhook, long-poll
``getUpdates`` for a station with no public URL) and ``download`` (a file a person sent:
``getFile``, then ``GET {api_base}/file/bot{token}/{file_path}``, so a local Bot API server or
the test fake serves it as well).

Sending is plain text only — no ``parse_mode`` — so nothing a person typed can ever become
markup. Telegram counts a message's length in UTF-16 code units (an emoji is two), so long
text is split on that measure, preferring line breaks and spaces, and the buttons go on the
last part. aiogram's errors are mapped onto the port's `SendError` tree here and nowhere else;
the mapped errors carry neither text nor chat ids, and are raised without aiogram's error
attached as their context, because aiogram's own messages quote the chat id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import quote

import aiohttp
import orjson
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    GetFile,
    SendDocument,
    SendMessage,
    SendPhoto,
    SendSticker,
    SendVideo,
    SendVoice,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import Response
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyParameters,
    User,
    WebhookInfo,
)

from bots.fetch import fetch_capped, too_large
from bots.telegram.updates import loose_chat_id, parse_body, parse_update
from communepol.errors import ValidationError
from communepol.ports import (
    MAX_ACTION_BYTES,
    AccountRefused,
    Button,
    ButtonKind,
    InboundEvent,
    InboundKind,
    Media,
    MediaKind,
    OutboundMessage,
    PermanentSendError,
    Recipient,
    RetryAfter,
    SendError,
    SendPurpose,
    SendResult,
    TransientSendError,
    Unreachable,
    WebhookRejected,
    WebhookRequest,
)

_log = logging.getLogger(__name__)

T = TypeVar("T")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_TEXT_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")

# What Telegram's setWebhook accepts as secret_token; checked up front so that a bad secret
# fails when the account is loaded, not when the webhook is first set.
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# aiogram's validate_token lets through characters that would break the URL path.
_TOKEN_RE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")
# Bad Request descriptions that mean "this chat cannot be written to", not "this message is
# wrong": a deleted account, a chat the bot never saw, a group where it lost the right to post.
_UNREACHABLE_MARKERS = (
    "chat not found",
    "user not found",
    "peer_id_invalid",
    "bot was blocked",
    "user is deactivated",
    "bot was kicked",
    "bot is not a member",
    "not enough rights to send",
    "have no rights to send",
    "chat_write_forbidden",
)
_LONG_NUMBER = re.compile(r"\d{5,}")

# aiogram validates every answer as ``Response[<the method's result type>]``. pydantic caches
# such parametrised models only weakly, so under load they are garbage-collected and rebuilt
# — about 10 ms each, hundreds of times in a broadcast. Holding them here keeps the cache warm.
_RESPONSE_MODELS = tuple(
    Response[returning]  # type: ignore[valid-type]
    for returning in (Message, bool, list[Any], WebhookInfo, User)
)


class _RawGetUpdates(TelegramMethod[list[Any]]):
    """``getUpdates`` returning the raw JSON list, so that one update aiogram's models reject
    cannot fail the whole batch: each one goes through `parse_update` on its own."""

    __returning__ = list[Any]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class TelegramChannel:
    """One Telegram bot account. Secrets: ``token`` ("123456:ABC…"), ``webhook_secret``."""

    supports_buttons = True
    max_text_length = MAX_TEXT_UTF16

    def __init__(
        self,
        account_id: int,
        secrets: Mapping[str, Any],
        *,
        api_base: str,
        request_timeout: float = 30.0,
        paid_broadcast: bool = False,
    ) -> None:
        self.account_id = account_id
        # Above Telegram's free 30/s, broadcasts must be paid (0.1 Star each): the dispatcher
        # only paces faster than 30/s when the station has set that up.
        self._paid_broadcast = paid_broadcast
        token = secrets.get("token")
        if not isinstance(token, str) or not token:
            raise ValidationError("the Telegram account has no bot token", field="token")
        if not _TOKEN_RE.fullmatch(token):
            raise ValidationError("the Telegram bot token is malformed", field="token")
        webhook_secret = secrets.get("webhook_secret") or None
        if webhook_secret is not None and (
            not isinstance(webhook_secret, str) or not _SECRET_RE.fullmatch(webhook_secret)
        ):
            raise ValidationError(
                "the Telegram webhook secret must be 1-256 of A-Z a-z 0-9 _ -",
                field="webhook_secret",
            )
        if not api_base.startswith(("http://", "https://")):
            raise ValidationError("the Telegram API base must be an http(s) URL", field="api_base")
        self._webhook_secret: str | None = webhook_secret
        self._request_timeout = request_timeout
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(api_base.rstrip("/")), timeout=request_timeout
        )
        self._bot = Bot(token, session=session)

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        expected = self._webhook_secret
        if not expected:
            # Without a secret anyone could post updates in this bot's name.
            raise WebhookRejected("this Telegram account has no webhook secret configured")
        given = request.header(SECRET_HEADER)
        if not given or not hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), expected.encode()
        ):
            raise WebhookRejected("missing or wrong Telegram webhook secret")

    def parse(self, body: bytes) -> list[InboundEvent]:
        return parse_body(body)

    async def acknowledge(self, event: InboundEvent) -> None:
        if not event.callback_id:
            return
        try:
            await self._bot(AnswerCallbackQuery(callback_query_id=event.callback_id))
        except (AiogramError, aiohttp.ClientError, TimeoutError) as err:
            # Only the client's spinner depends on it; the event itself is already handled.
            _log.warning(
                "answerCallbackQuery failed for Telegram account %s (%s)",
                self.account_id,
                type(err).__name__,
            )

    # -- outbound --------------------------------------------------------------------------

    async def send(
        self, recipient: Recipient, message: OutboundMessage, purpose: SendPurpose
    ) -> SendResult:
        # Telegram has one way to send whatever the purpose (only Zalo OA picks by it).
        # A failure after the first part of a split text leaves the earlier parts delivered;
        # the port has no way to say so, so a retry sends them again.
        text = message.text
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise PermanentSendError("the message is not valid Unicode text") from None
        markup, link_lines = _markup(message.buttons, in_group=recipient.is_group)
        if link_lines:
            text = "\n\n".join(part for part in (text, "\n".join(link_lines)) if part)
        if not text.strip() and message.media is None:
            raise PermanentSendError("Telegram cannot send an empty message")

        chat_id = recipient.chat_id
        reply = _reply_parameters(message.reply_to)
        paid = self._paid_broadcast and purpose in (SendPurpose.BROADCAST, SendPurpose.ALERT)
        ids: list[str] = []
        if message.media is not None:
            captioned = (
                message.media.kind is not MediaKind.STICKER
                and utf16_length(text) <= MAX_CAPTION_UTF16
            )
            # The buttons belong to the last message: the media itself unless text follows it.
            last = captioned or not text.strip()
            sent = await self._call(
                _media_method(
                    message.media,
                    chat_id,
                    caption=text if captioned and text.strip() else None,
                    markup=markup if last else None,
                    reply=reply,
                    paid=paid,
                )
            )
            ids.append(str(sent.message_id))
            if last:
                return SendResult(platform_message_ids=tuple(ids))
            reply = None
        parts = split_utf16(text, MAX_TEXT_UTF16)
        for number, part in enumerate(parts, start=1):
            method = SendMessage(
                chat_id=chat_id,
                text=part,
                parse_mode=None,
                reply_markup=markup if number == len(parts) else None,
                reply_parameters=reply if number == 1 else None,
                allow_paid_broadcast=paid or None,
            )
            ids.append(await self._send_message(method))
        return SendResult(platform_message_ids=tuple(ids))

    async def _send_message(self, method: SendMessage) -> str:
        """sendMessage, the call a broadcast makes thousands of times a minute.

        The request goes through aiogram's own session, API server and form encoding; only a
        successful answer is read by hand — its message id — instead of being validated into
        a full ``Message`` model, which was a fifth of the sender's time. Any other answer is
        handed to aiogram's ``check_response``, so errors are exactly aiogram's."""
        session = cast(AiohttpSession, self._bot.session)  # built so in __init__
        try:
            client = await session.create_session()
            url = session.api.api_url(token=self._bot.token, method=method.__api_method__)
            form = session.build_form_data(self._bot, method)
            timeout = aiohttp.ClientTimeout(total=self._request_timeout)
            async with client.post(url, data=form, timeout=timeout) as response:
                raw = await response.text()
                status = response.status
            if status == 200:
                message_id = _ok_message_id(raw)
                if message_id is not None:
                    return message_id
            session.check_response(bot=self._bot, method=method, status_code=status, content=raw)
            raise ClientDecodeError("an answer without a message id", ValueError(), raw)
        except (AiogramError, aiohttp.ClientError, TimeoutError) as err:
            error = send_error(err)
        raise error

    # -- files a person sent ---------------------------------------------------------------

    async def download(self, media: Media, *, max_bytes: int) -> bytes:
        """The bytes of ``media`` (its ``ref`` is a file_id), at most ``max_bytes``."""
        if media.size is not None and media.size > max_bytes:
            raise too_large(max_bytes)
        found = await self._call(GetFile(file_id=media.ref))
        if found.file_size is not None and found.file_size > max_bytes:
            raise too_large(max_bytes)
        if not found.file_path:
            raise PermanentSendError("Telegram no longer has this file")
        session = cast(AiohttpSession, self._bot.session)  # built so in __init__
        url = session.api.file_url(self._bot.token, quote(found.file_path, safe="/"))
        client = await session.create_session()
        return await fetch_capped(
            client,
            url,
            max_bytes=max_bytes,
            platform="Telegram",
        )

    # -- polling and webhook setup ---------------------------------------------------------

    async def set_webhook(self, url: str) -> None:
        if not self._webhook_secret:
            raise ValidationError(
                "the Telegram account needs a webhook secret before its webhook is set",
                field="webhook_secret",
            )
        await self._call(
            SetWebhook(
                url=url,
                secret_token=self._webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,
            )
        )

    async def remove_webhook(self) -> None:
        await self._call(DeleteWebhook(drop_pending_updates=False))

    async def get_updates(
        self, offset: str | None, wait_seconds: int
    ) -> tuple[Sequence[InboundEvent], str | None]:
        first = _offset(offset)
        wait = max(0, int(wait_seconds))
        raw = await self._call(
            _RawGetUpdates(offset=first, timeout=wait, allowed_updates=list(ALLOWED_UPDATES)),
            # The request must outlive the long poll it asks Telegram to hold open.
            request_timeout=math.ceil(wait + self._request_timeout),
        )
        events: list[InboundEvent] = []
        highest: int | None = None
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if type(update_id) is int and update_id >= 0:
                highest = update_id if highest is None else max(highest, update_id)
            events.append(_polled_event(item))
        return events, (str(highest + 1) if highest is not None else offset)

    async def close(self) -> None:
        await self._bot.session.close()

    # -- the one place aiogram's errors become the port's ----------------------------------

    async def _call(self, method: TelegramMethod[T], *, request_timeout: int | None = None) -> T:
        # TimeoutError is asyncio.TimeoutError since Python 3.11.
        try:
            return await self._bot(method, request_timeout=request_timeout)
        except (AiogramError, aiohttp.ClientError, TimeoutError) as err:
            error = send_error(err)
        # Raised outside the except block so that it carries no __context__: aiogram's
        # messages name the chat, and a logged traceback would print them.
        raise error


def _ok_message_id(raw: str) -> str | None:
    """The message id of a successful Bot API answer, or None if it is not one."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        return None
    result = answer.get("result")
    message_id = result.get("message_id") if isinstance(result, dict) else None
    return str(message_id) if type(message_id) is int else None


def send_error(err: BaseException) -> SendError:
    """The port's error for an aiogram or network failure; its message names no chat or text."""
    if isinstance(err, TelegramRetryAfter):
        return RetryAfter(err.retry_after)
    if isinstance(err, TelegramMigrateToChat):
        return Unreachable("the Telegram group became a supergroup with a new chat id")
    if isinstance(err, TelegramForbiddenError):
        return Unreachable("Telegram refuses delivery to this chat (blocked, kicked or deleted)")
    if isinstance(err, TelegramBadRequest):
        description = err.message.lower()
        if any(marker in description for marker in _UNREACHABLE_MARKERS):
            return Unreachable("Telegram does not know this chat or may not write to it")
        return PermanentSendError(f"Telegram rejected the message: {_safe(err.message)}")
    if isinstance(err, TelegramUnauthorizedError | TelegramNotFound):
        # 404 on a method that exists means Telegram does not recognise the token at all.
        return AccountRefused("Telegram refused the bot token")
    if isinstance(err, TelegramEntityTooLarge):
        return PermanentSendError("Telegram rejected the message as too large")
    if isinstance(err, TelegramConflictError):
        return TransientSendError("another poller or a webhook holds this bot's updates")
    if isinstance(err, TelegramServerError):
        return TransientSendError("Telegram answered with a server error")
    if isinstance(err, TelegramNetworkError | aiohttp.ClientError | TimeoutError):
        return TransientSendError("Telegram could not be reached or did not answer in time")
    if isinstance(err, ClientDecodeError):
        return TransientSendError("Telegram's answer was not a Bot API response")
    if isinstance(err, TelegramAPIError):
        return TransientSendError("Telegram answered with an unexpected error")
    return TransientSendError("the Telegram client failed")


# -- text ----------------------------------------------------------------------------------


def utf16_length(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (a character beyond the BMP counts 2)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split_utf16(text: str, limit: int = MAX_TEXT_UTF16) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units, cut at a line break, else a space, else between
    two characters that do not belong together (a Vietnamese letter keeps its diacritics, an
    emoji its modifiers). Cuts eat the whitespace they fall on; blank parts are dropped."""
    if limit < 2:
        raise ValueError("limit must hold at least one character")
    if utf16_length(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        fit = _fitting_prefix(rest, limit)
        cut = rest.rfind("\n", 0, fit + 1)
        if cut <= fit // 2:  # a break near the start would leave a tiny part; try a space
            cut = rest.rfind(" ", 0, fit + 1)
        if cut <= fit // 2:
            cut = fit
            while cut > 1 and _joins_previous(rest, cut):
                cut -= 1
        part = rest[:cut].rstrip(" \n")
        if part.strip():
            parts.append(part)
        rest = rest[cut:].lstrip(" \n")
    if rest.strip():
        parts.append(rest)
    return parts


def _fitting_prefix(text: str, limit: int) -> int:
    """How many code points of ``text`` fit in ``limit`` UTF-16 units."""
    if utf16_length(text[:limit]) == limit:  # nothing beyond the BMP in the window
        return limit
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _joins_previous(text: str, index: int) -> bool:
    char, previous = ord(text[index]), text[index - 1]
    return (
        unicodedata.combining(text[index]) != 0
        or char == 0x200D  # zero-width joiner
        or previous == "\u200d"
        or 0xFE00 <= char <= 0xFE0F  # variation selectors (emoji presentation)
        or 0x1F3FB <= char <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= char <= 0xE007F  # tag sequences (subdivision flags)
        or (0x1F1E6 <= char <= 0x1F1FF and 0x1F1E6 <= ord(previous) <= 0x1F1FF)  # flags
    )


# -- markup --------------------------------------------------------------------------------


def _markup(
    rows: Sequence[Sequence[Button]], *, in_group: bool
) -> tuple[InlineKeyboardMarkup | ReplyKeyboardMarkup | None, list[str]]:
    """The keyboard for ``rows``, and "label: link" lines for links it cannot hold."""
    wants_location = any(b.kind is ButtonKind.LOCATION for row in rows for b in row)
    if wants_location and not in_group:
        return _reply_keyboard(rows)
    # Telegram asks for a location only in private chats; in a group that button is dropped.
    inline_rows = [
        [_inline_button(b) for b in row if b.kind is not ButtonKind.LOCATION] for row in rows
    ]
    inline_rows = [row for row in inline_rows if row]
    return (InlineKeyboardMarkup(inline_keyboard=inline_rows) if inline_rows else None), []


def _reply_keyboard(rows: Sequence[Sequence[Button]]) -> tuple[ReplyKeyboardMarkup, list[str]]:
    # A reply keyboard sends its label back as text (the conversation kit maps a typed label
    # to its button) and cannot open links, so links are written under the text instead.
    keyboard: list[list[KeyboardButton]] = []
    links: list[str] = []
    for row in rows:
        keys: list[KeyboardButton] = []
        for button in row:
            if button.kind is ButtonKind.URL:
                links.append(f"{button.label}: {button.action}")
            elif button.kind is ButtonKind.LOCATION:
                keys.append(KeyboardButton(text=button.label, request_location=True))
            else:
                keys.append(KeyboardButton(text=button.label))
        if keys:
            keyboard.append(keys)
    markup = ReplyKeyboardMarkup(keyboard=keyboard, resize_keyboard=True, one_time_keyboard=True)
    return markup, links


def _inline_button(button: Button) -> InlineKeyboardButton:
    if button.kind is ButtonKind.URL:
        return InlineKeyboardButton(text=button.label, url=button.action)
    if not 0 < len(button.action.encode()) <= MAX_ACTION_BYTES:
        raise PermanentSendError(f"a button action must be 1-{MAX_ACTION_BYTES} bytes of UTF-8")
    return InlineKeyboardButton(text=button.label, callback_data=button.action)


def _reply_parameters(reply_to: str | None) -> ReplyParameters | None:
    # Only Telegram's own numeric message ids can be quoted; a missing original is no error.
    if reply_to and reply_to.isascii() and reply_to.isdigit() and len(reply_to) < 19:
        return ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
    return None


def _media_method(
    media: Media,
    chat_id: str,
    *,
    caption: str | None,
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None,
    reply: ReplyParameters | None,
    paid: bool = False,
) -> TelegramMethod[Message]:
    common: dict[str, Any] = {
        "chat_id": chat_id,
        "reply_markup": markup,
        "reply_parameters": reply,
        "allow_paid_broadcast": paid or None,
    }
    # The ref is a file_id Telegram already holds or a URL it fetches itself.
    if media.kind is MediaKind.STICKER:
        return SendSticker(sticker=media.ref, **common)
    common.update(caption=caption, parse_mode=None)
    if media.kind is MediaKind.PHOTO:
        return SendPhoto(photo=media.ref, **common)
    if media.kind is MediaKind.VOICE:
        return SendVoice(voice=media.ref, **common)
    if media.kind is MediaKind.VIDEO:
        return SendVideo(video=media.ref, **common)
    return SendDocument(document=media.ref, **common)


# -- helpers -------------------------------------------------------------------------------


def _polled_event(item: Any) -> InboundEvent:
    """A polled update as an event; a malformed one is kept as IGNORED rather than failing
    the batch (its offset must still be confirmed, or it would come back forever)."""
    try:
        return parse_update(item)
    except ValidationError:
        pass
    update_id = item.get("update_id") if isinstance(item, dict) else None
    if type(update_id) is int and update_id >= 0:
        event_id = str(update_id)
    else:
        # No usable id: a stable digest, so that the inbox stores a re-delivery once.
        canonical = json.dumps(item, sort_keys=True, default=str, ensure_ascii=True)
        event_id = "malformed-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return InboundEvent(event_id=event_id, kind=InboundKind.IGNORED, chat_id=loose_chat_id(item))


def _offset(offset: str | None) -> int | None:
    if offset is None or offset == "":
        return None
    try:
        value = int(offset)
    except ValueError:
        raise ValidationError("a Telegram update offset is a number", field="offset") from None
    return value


def _safe(description: str) -> str:
    """Telegram's description, shortened, with anything that looks like an id masked."""
    return _LONG_NUMBER.sub("…", description.strip())[:160]


__all__ = [
    "ALLOWED_UPDATES",
    "MAX_CAPTION_UTF16",
    "MAX_TEXT_UTF16",
    "SECRET_HEADER",
    "TelegramChannel",
    "parse_body",
    "parse_update",
    "send_error",
    "split_utf16",
    "utf16_length",
]
