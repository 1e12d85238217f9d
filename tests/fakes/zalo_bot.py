"""A fake Zalo Bot API server speaking the real wire format (reference/platforms.md §B).

``POST /bot{token}/{method}`` with a JSON body, answered ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": ...}``. getUpdates hands out one queued update
per call and answers error 408 when none came during the poll (the wait is capped at one
second so tests stay fast). Injected faults are rendered in the same envelope.

Tests use it in-process (``async with FakeZaloBot() as fake``); for manual runs::

    python -m tests.fakes.zalo_bot --port 18082

adds ``GET /_fake/stats`` and ``POST /_fake/updates`` (queue an update, as a resident's
message would be).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.base import FakePlatform, Fault

MAX_TEXT = 2000
DEFAULT_DATE_MS = 1766619597466
MAX_POLL_WAIT = 1.0


@dataclass(frozen=True)
class Sent:
    """A message the fake accepted."""

    method: str
    chat_id: str
    text: str | None = None
    photo: str | None = None
    caption: str | None = None
    sticker: str | None = None
    reply_to: str | None = None
    message_id: str = ""


class FakeZaloBot(FakePlatform):
    """The Zalo Bot API. With ``token`` set, calls with any other token get 401."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.sent: list[Sent] = []
        self.chat_actions: list[tuple[str, str]] = []
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_updated_at = 0
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._methods = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendSticker": self._send_sticker,
            "sendChatAction": self._send_chat_action,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
        }
        self.app.router.add_post("/bot{token}/{method}", self._handle)
        self.app.router.add_get("/_fake/stats", self._stats)
        self.app.router.add_post("/_fake/updates", self._push_from_http)

    # -- control, used by tests ------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self._updates.put_nowait(update)

    def sent_texts(self, chat_id: str) -> list[str]:
        """Texts sent to ``chat_id`` by sendMessage, in order."""
        return [s.text for s in self.sent if s.chat_id == chat_id and s.text is not None]

    def reset(self) -> None:
        super().reset()
        self.sent.clear()
        self.chat_actions.clear()
        while not self._updates.empty():
            self._updates.get_nowait()

    # -- the API ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        try:
            params = await request.json() if await request.read() else {}
        except ValueError:
            return _error(400, "Bad Request: body is not JSON")
        if not isinstance(params, dict):
            return _error(400, "Bad Request: body is not a JSON object")
        params["_token"] = token
        fault = await self.intercept(request, method, params)
        if fault is not None:
            return _render_fault(fault)
        if self.token is not None and token != self.token:
            return _error(401, "Unauthorized")
        handler = self._methods.get(method)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(params)

    async def _get_me(self, params: dict[str, Any]) -> web.Response:
        bot_id = str(params["_token"]).split(":", 1)[0]
        return _ok(
            {
                "id": bot_id,
                "account_name": "communepol.fake",
                "account_type": "BASIC",
                "can_join_groups": False,
            }
        )

    async def _send_message(self, params: dict[str, Any]) -> web.Response:
        chat_id, problem = _chat_id(params)
        text = params.get("text")
        if problem:
            return _error(400, problem)
        if not isinstance(text, str) or not text:
            return _error(400, "Bad Request: text is required")
        if len(text) > MAX_TEXT:
            return _error(400, "Bad Request: text is too long")
        return self._accept(Sent("sendMessage", chat_id, text=text, reply_to=_reply_to(params)))

    async def _send_photo(self, params: dict[str, Any]) -> web.Response:
        chat_id, problem = _chat_id(params)
        photo = params.get("photo")
        caption = params.get("caption")
        if problem:
            return _error(400, problem)
        if not isinstance(photo, str) or not photo:
            return _error(400, "Bad Request: photo is required")
        if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_TEXT):
            return _error(400, "Bad Request: caption is too long")
        return self._accept(
            Sent("sendPhoto", chat_id, photo=photo, caption=caption, reply_to=_reply_to(params))
        )

    async def _send_sticker(self, params: dict[str, Any]) -> web.Response:
        chat_id, problem = _chat_id(params)
        sticker = params.get("sticker")
        if problem:
            return _error(400, problem)
        if not isinstance(sticker, str) or not sticker:
            return _error(400, "Bad Request: sticker is required")
        return self._accept(
            Sent("sendSticker", chat_id, sticker=sticker, reply_to=_reply_to(params))
        )

    async def _send_chat_action(self, params: dict[str, Any]) -> web.Response:
        chat_id, problem = _chat_id(params)
        if problem:
            return _error(400, problem)
        action = params.get("action")
        if action not in ("typing", "upload_photo"):
            return _error(400, "Bad Request: unknown action")
        self.chat_actions.append((chat_id, str(action)))
        # The documented answer has no result at all.
        return web.json_response({"ok": True})

    async def _set_webhook(self, params: dict[str, Any]) -> web.Response:
        url = params.get("url")
        secret = params.get("secret_token")
        if not isinstance(url, str) or not url.startswith("https://"):
            return _error(400, "Bad Request: url must be HTTPS")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return _error(400, "Bad Request: secret_token must be 8-256 characters")
        self.webhook_url, self.webhook_secret = url, secret
        self.webhook_updated_at = _now_ms()
        return _ok({"url": url, "updated_at": self.webhook_updated_at})

    async def _delete_webhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook_url, self.webhook_secret = "", None
        self.webhook_updated_at = _now_ms()
        return _ok({"url": "", "updated_at": self.webhook_updated_at})

    async def _get_webhook_info(self, params: dict[str, Any]) -> web.Response:
        return _ok({"url": self.webhook_url, "updated_at": self.webhook_updated_at})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook_url:
            # Polling and a webhook are mutually exclusive; the exact error is not documented,
            # so this is Telegram's (which the Bot API copies elsewhere).
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        try:
            wait = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            return _error(400, "Bad Request: timeout must be a number")
        try:
            update = await asyncio.wait_for(
                self._updates.get(), timeout=max(0.0, min(wait, MAX_POLL_WAIT))
            )
        except TimeoutError:
            return _error(408, "Request timeout")
        return _ok(update)

    def _accept(self, sent: Sent) -> web.Response:
        message_id = f"{next(self._ids):020x}"
        self.sent.append(dataclasses.replace(sent, message_id=message_id))
        return _ok({"message_id": message_id, "date": _now_ms()})

    # -- standalone extras -----------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "calls": len(self.calls),
                "by_method": Counter(call.method for call in self.calls),
                "sent": len(self.sent),
                "queued_updates": self._updates.qsize(),
                "webhook_url": self.webhook_url,
                "rejected_by_cap": self.rejected_by_cap,
            }
        )

    async def _push_from_http(self, request: web.Request) -> web.Response:
        try:
            update = await request.json()
        except ValueError:
            return web.json_response({"ok": False}, status=400)
        self.push_update(update)
        return web.json_response({"ok": True})


# -- wire helpers -------------------------------------------------------------------------


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, *, http_status: int | None = None) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description},
        status=http_status if http_status is not None else status,
    )


def _render_fault(fault: Fault) -> web.Response:
    if fault.kind == "rate_limited":
        return web.json_response(
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests",
                "parameters": {"retry_after": fault.retry_after},
            },
            status=429,
        )
    if fault.kind == "forbidden":
        return _error(403, fault.description or "Forbidden")
    if fault.kind == "bad_request":
        return _error(400, fault.description or "Bad Request")
    if fault.kind == "server_error":
        return _error(fault.status or 500, fault.description or "Internal Server Error")
    if fault.kind == "platform_error":
        return _error(fault.code, fault.description, http_status=200)
    return _error(500, f"unknown fault {fault.kind}")


def _chat_id(params: dict[str, Any]) -> tuple[str, str | None]:
    chat_id = params.get("chat_id")
    if not isinstance(chat_id, str) or not chat_id:
        return "", "Bad Request: chat_id is required"
    return chat_id, None


def _reply_to(params: dict[str, Any]) -> str | None:
    value = params.get("reply_to_message_id")
    return str(value) if value is not None else None


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- update builders: real update JSON, as the platform sends it ----------------------------


def _message(
    message_id: str,
    user_id: str,
    *,
    name: str | None,
    name_field: str,
    chat_id: str | None,
    chat_type: str,
    date: int,
    message_type: str,
) -> dict[str, Any]:
    sender: dict[str, Any] = {"id": user_id, "is_bot": False}
    if name is not None:
        sender[name_field] = name
    return {
        "message_id": message_id,
        "date": date,
        "chat": {"id": chat_id or user_id, "chat_type": chat_type},
        "from": sender,
        "message_type": message_type,
    }


def text_update(
    message_id: str,
    user_id: str,
    text: str,
    *,
    name: str | None = "Nguyen Van A",
    name_field: str = "display_name",
    chat_id: str | None = None,
    chat_type: str = "PRIVATE",
    date: int = DEFAULT_DATE_MS,
) -> dict[str, Any]:
    message = _message(
        message_id,
        user_id,
        name=name,
        name_field=name_field,
        chat_id=chat_id,
        chat_type=chat_type,
        date=date,
        message_type="CHAT_MESSAGE",
    )
    message["text"] = text
    return {"event_name": "message.text.received", "message": message}


def image_update(
    message_id: str,
    user_id: str,
    url: str = "https://photo.example/p/1.jpg",
    *,
    caption: str | None = None,
    photo_field: str = "photo_url",
    name: str | None = "Nguyen Van A",
    name_field: str = "display_name",
    chat_id: str | None = None,
    chat_type: str = "PRIVATE",
    date: int = DEFAULT_DATE_MS,
) -> dict[str, Any]:
    message = _message(
        message_id,
        user_id,
        name=name,
        name_field=name_field,
        chat_id=chat_id,
        chat_type=chat_type,
        date=date,
        message_type="CHAT_PHOTO",
    )
    message[photo_field] = url
    if caption is not None:
        message["caption"] = caption
    return {"event_name": "message.image.received", "message": message}


def sticker_update(
    message_id: str,
    user_id: str,
    sticker: str = "bfe4f4a5a8e041be18f1",
    *,
    url: str | None = "https://zalo-api.zadn.vn/api/emoticon/sticker/webpc?eid=1",
    name: str | None = "Nguyen Van A",
    name_field: str = "display_name",
    chat_id: str | None = None,
    chat_type: str = "PRIVATE",
    date: int = DEFAULT_DATE_MS,
) -> dict[str, Any]:
    message = _message(
        message_id,
        user_id,
        name=name,
        name_field=name_field,
        chat_id=chat_id,
        chat_type=chat_type,
        date=date,
        message_type="STICKER",
    )
    message["sticker"] = sticker
    if url is not None:
        message["url"] = url
    return {"event_name": "message.sticker.received", "message": message}


def unsupported_update(
    message_id: str,
    user_id: str,
    *,
    name: str | None = "Nguyen Van A",
    name_field: str = "display_name",
    chat_id: str | None = None,
    chat_type: str = "PRIVATE",
    date: int = DEFAULT_DATE_MS,
) -> dict[str, Any]:
    message = _message(
        message_id,
        user_id,
        name=name,
        name_field=name_field,
        chat_id=chat_id,
        chat_type=chat_type,
        date=date,
        message_type="UNSUPPORTED",
    )
    return {"event_name": "message.unsupported.received", "message": message}


def wrapped(update: dict[str, Any]) -> dict[str, Any]:
    """The ``{ok, result}`` webhook wrapper some deployments send."""
    return {"ok": True, "result": update}


def body(update: dict[str, Any]) -> bytes:
    """An update as the webhook's exact bytes."""
    return json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()


# -- standalone runner --------------------------------------------------------------------


async def _serve(port: int, token: str | None) -> None:
    fake = FakeZaloBot(token)
    await fake.start(port)
    print(f"fake Zalo Bot API on {fake.base_url} (stats: {fake.base_url}/_fake/stats)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Zalo Bot API server")
    parser.add_argument("--port", type=int, default=18082)
    parser.add_argument("--token", default=None, help="accept only this bot token")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.token))


if __name__ == "__main__":
    main()
