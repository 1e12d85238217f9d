"""The Zalo Bot API channel: `ports.Channel` and `ports.Pollable` over plain aiohttp.

Every call is ``POST {api_base}/bot{token}/{method}`` with a JSON body, answered with
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``.
Whether the HTTP status mirrors ``error_code`` is not documented, so both are read.

The platform has no buttons: ACTION buttons become a numbered list under the text (the
conversation kit takes a reply "2" as the second ACTION button), URL buttons become
"label: url" lines, and LOCATION buttons are dropped because a bot cannot ask for a location
here — conversations also accept a typed place. Text longer than 2000 characters is split.

A photo a person sent arrives as a URL; ``download`` fetches it with a size cap.

Nothing here logs, and no error message carries the token, a chat id or message text: the
token is part of every URL, so aiohttp's own exceptions are never chained or quoted.
"""

from __future__ import annotations

import hmac
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bots.fetch import fetch_capped
from bots.zalo_bot.updates import ignored_event, parse_body, parse_update
from communepol.errors import ValidationError
from communepol.ports import (
    AccountRefused,
    ButtonKind,
    InboundEvent,
    Media,
    MediaKind,
    OutboundMessage,
    PermanentSendError,
    Recipient,
    RetryAfter,
    SendPurpose,
    SendResult,
    TransientSendError,
    Unreachable,
    WebhookRejected,
    WebhookRequest,
    numbered_options,
    split_text,
)

MAX_TEXT_LENGTH = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)

# "<bot_id>:<secret>". The token is a path segment, so nothing that would end or escape it.
_TOKEN = re.compile(r"[^\s/?#%:]+:[^\s/?#%]+")
# 8–256 characters (platform limit); visible ASCII because it travels as an HTTP header.
_WEBHOOK_SECRET = re.compile(r"[\x21-\x7e]{8,256}")


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any  # the decoded JSON, or None when the answer was not JSON
    raw: bytes
    retry_after_header: str | None


class ZaloBotChannel:
    """One Zalo Bot account. Build with the account's opened secrets; `close` when done."""

    supports_buttons = False
    max_text_length = MAX_TEXT_LENGTH

    def __init__(
        self,
        account_id: int,
        secrets: Mapping[str, Any],
        *,
        api_base: str,
        request_timeout: float = 30.0,
    ) -> None:
        token = secrets.get("token")
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ValidationError(
                "the Zalo Bot token must look like <bot_id>:<secret>", field="token"
            )
        webhook_secret = secrets.get("webhook_secret")
        if not isinstance(webhook_secret, str) or not _WEBHOOK_SECRET.fullmatch(webhook_secret):
            raise ValidationError(
                "the Zalo Bot webhook secret must be 8-256 visible ASCII characters",
                field="webhook_secret",
            )
        if not api_base.startswith(("http://", "https://")):
            raise ValidationError("the Zalo Bot API base must be an http(s) URL", field="api_base")
        if not request_timeout > 0:
            raise ValidationError("the request timeout must be positive", field="request_timeout")
        self.account_id = account_id
        self._token = token
        self._webhook_secret = webhook_secret
        self._api_base = api_base.rstrip("/")
        self._request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        # The default repr is harmless, but say so explicitly: never the token.
        return f"ZaloBotChannel(account_id={self.account_id})"

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        supplied = request.header(SECRET_HEADER)
        # surrogatepass keeps the encoding one-to-one, so no odd header can encode equal.
        if supplied is None or not hmac.compare_digest(
            supplied.encode("utf-8", "surrogatepass"), self._webhook_secret.encode("ascii")
        ):
            raise WebhookRejected("the Zalo Bot webhook secret is missing or wrong")

    def parse(self, body: bytes) -> list[InboundEvent]:
        return parse_body(body)

    async def acknowledge(self, event: InboundEvent) -> None:
        """Nothing to acknowledge: the platform has no callbacks."""

    # -- outbound ------------------------------------------------------------------------

    async def send(
        self, recipient: Recipient, message: OutboundMessage, purpose: SendPurpose
    ) -> SendResult:
        # ``purpose`` changes nothing: the Bot API has one way to send, and no quotas to pick.
        text = render_text(message)
        media = message.media
        calls: list[tuple[str, dict[str, Any]]] = []
        if media is not None and media.kind is MediaKind.PHOTO:
            parts = _split(text or media.caption or "")
            photo: dict[str, Any] = {"chat_id": recipient.chat_id, "photo": media.ref}
            if parts:
                photo["caption"] = parts.pop(0)
            calls.append(("sendPhoto", photo))
        elif media is not None and media.kind is MediaKind.STICKER:
            parts = _split(text)
            calls.append(("sendSticker", {"chat_id": recipient.chat_id, "sticker": media.ref}))
        else:
            parts = _split(text)
        calls += [("sendMessage", {"chat_id": recipient.chat_id, "text": part}) for part in parts]
        if not calls:
            raise PermanentSendError("the message has no text and nothing the platform can show")
        if message.reply_to:
            calls[0][1]["reply_to_message_id"] = message.reply_to
        message_ids: list[str] = []
        for method, payload in calls:
            result = await self._call(method, payload)
            if isinstance(result, dict) and result.get("message_id") is not None:
                message_ids.append(str(result["message_id"]))
        return SendResult(platform_message_ids=tuple(message_ids))

    async def send_typing(self, chat_id: str) -> None:
        await self._call("sendChatAction", {"chat_id": chat_id, "action": "typing"})

    # -- Pollable ------------------------------------------------------------------------

    async def set_webhook(self, url: str) -> None:
        await self._call("setWebhook", {"url": url, "secret_token": self._webhook_secret})

    async def remove_webhook(self) -> None:
        await self._call("deleteWebhook", {})

    async def get_updates(
        self, offset: str | None, wait_seconds: int
    ) -> tuple[Sequence[InboundEvent], str | None]:
        """At most one update per call (the platform hands them out one by one and confirms
        nothing), so ``offset`` is returned unchanged."""
        answer = await self._exchange(
            "getUpdates",
            {"timeout": str(wait_seconds)},
            # The long poll itself may take wait_seconds before the platform answers.
            client_timeout=aiohttp.ClientTimeout(total=wait_seconds + self._request_timeout),
        )
        if _is_poll_timeout(answer):
            return [], offset
        result = _result("getUpdates", answer)
        if not result:
            return [], offset
        # Documented as one object; a list is accepted in case the platform ever batches.
        updates = result if isinstance(result, list) else [result]
        events: list[InboundEvent] = []
        for index, update in enumerate(updates):
            try:
                if not isinstance(update, dict):
                    raise ValidationError("an update must be an object", field="result")
                events.append(parse_update(update))
            except ValidationError:
                # One bad update must not stall polling: keep it, inert, and move on.
                events.append(ignored_event(answer.raw + b"#" + str(index).encode()))
        return events, offset

    # -- files a person sent -------------------------------------------------------------

    async def download(self, media: Media, *, max_bytes: int) -> bytes:
        """The bytes of ``media`` (its ``ref`` is the platform's URL), at most ``max_bytes``."""
        return await fetch_capped(
            self._client(), media.ref, max_bytes=max_bytes, platform="Zalo Bot"
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- HTTP ----------------------------------------------------------------------------

    async def _call(self, method: str, payload: dict[str, Any]) -> Any:
        return _result(method, await self._exchange(method, payload))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._request_timeout),
                json_serialize=_json_dumps,
            )
        return self._session

    async def _exchange(
        self,
        method: str,
        payload: dict[str, Any],
        *,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> _Answer:
        session = self._client()
        url = f"{self._api_base}/bot{self._token}/{method}"
        # aiohttp reads timeout=None as "no timeout at all", so pass one only to override.
        options: dict[str, Any] = {} if client_timeout is None else {"timeout": client_timeout}
        try:
            async with session.post(url, json=payload, **options) as response:
                raw = await response.read()
                status = response.status
                retry_after_header = response.headers.get("Retry-After")
        except TimeoutError:
            raise TransientSendError(f"Zalo Bot {method}: no answer in time") from None
        except aiohttp.ClientError as err:
            # Not chained: aiohttp's errors may quote the URL, and the URL holds the token.
            raise TransientSendError(f"Zalo Bot {method}: {type(err).__name__}") from None
        try:
            body: Any = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        return _Answer(status, body, raw, retry_after_header)


def render_text(message: OutboundMessage) -> str:
    """The message as one text: its words, any linkable media, ACTION buttons numbered,
    then URL buttons as "label: url" lines. LOCATION buttons have no form here."""
    lines = [unicodedata.normalize("NFC", message.text)]
    media = message.media
    if media is not None and media.kind not in (MediaKind.PHOTO, MediaKind.STICKER):
        # Files, voice and video cannot be sent by a bot; a link to them still helps.
        if not media.ref.startswith(("https://", "http://")):
            raise PermanentSendError(f"the Zalo Bot API cannot send a {media.kind.value}")
        lines.append(f"{media.name}: {media.ref}" if media.name else media.ref)
    buttons = message.flat_buttons
    actions = [button for button in buttons if button.kind is ButtonKind.ACTION]
    lines.append(numbered_options("", actions))
    lines += [f"{b.label}: {b.action}" for b in buttons if b.kind is ButtonKind.URL]
    return "\n".join(line for line in lines if line)


def _split(text: str) -> list[str]:
    parts = split_text(text, MAX_TEXT_LENGTH)
    # If the platform counts UTF-16 units as JavaScript does, emoji count twice; 1000
    # characters are at most 2000 units, so one narrower split always fits.
    if any(_utf16_units(part) > MAX_TEXT_LENGTH for part in parts):
        parts = split_text(text, MAX_TEXT_LENGTH // 2)
    # sendMessage refuses empty text; a part of only spaces says nothing anyway.
    return [part for part in parts if part.strip()]


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _result(method: str, answer: _Answer) -> Any:
    """The ``result`` of a successful answer; otherwise the `SendError` it means."""
    body = answer.body if isinstance(answer.body, dict) else None
    if body is None:
        if answer.status == 429:
            raise RetryAfter(_retry_after(None, answer.retry_after_header))
        raise TransientSendError(f"Zalo Bot {method}: not a JSON answer (HTTP {answer.status})")
    if body.get("ok") is True and 200 <= answer.status < 300:
        return body.get("result")
    error_code = _as_int(body.get("error_code"))
    if 429 in (error_code, answer.status):
        raise RetryAfter(_retry_after(body.get("parameters"), answer.retry_after_header))
    # The envelope's code says more than the status when they differ (HTTP 200 + error_code).
    code = error_code if error_code is not None and 400 <= error_code <= 599 else answer.status
    failure = f"Zalo Bot {method}: error {code}"
    if code == 403:
        raise Unreachable(failure)
    if code in (401, 404):
        raise AccountRefused(failure)
    if code == 408 or code >= 500:
        raise TransientSendError(failure)
    if 400 <= code < 500:
        raise PermanentSendError(failure)
    # An unknown error code: retrying with back-off loses nothing, dead-lettering might.
    raise TransientSendError(f"Zalo Bot {method}: unexpected answer")


def _is_poll_timeout(answer: _Answer) -> bool:
    """getUpdates answers error 408 when no update came during the long poll."""
    body = answer.body if isinstance(answer.body, dict) else {}
    if body.get("ok") is True:
        return False
    return 408 in (_as_int(body.get("error_code")), answer.status)


def _retry_after(parameters: Any, header: str | None) -> float:
    candidates = [parameters.get("retry_after") if isinstance(parameters, dict) else None, header]
    for candidate in candidates:
        if isinstance(candidate, bool):
            continue
        try:
            seconds = float(candidate)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            continue
        if 0 < seconds < float("inf"):
            return seconds
    return 1.0


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value) < 12 and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
