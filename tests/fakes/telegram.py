"""A fake Telegram Bot API server, speaking the wire format aiogram's client uses.

``POST /bot{token}/{method}`` with a form body (multipart when a file is uploaded) or JSON.
Nested values — ``reply_markup``, ``reply_parameters``, ``entities``, ``allowed_updates`` —
travel as JSON strings inside the form; the fake decodes them, so a recorded `Call` holds
``params["reply_markup"] == {"inline_keyboard": [...]}``. Scalars stay the strings they were on
the wire (``params["chat_id"] == "42"``). The token is recorded as ``params["_token"]``.

Faults render in Telegram's error format (429 with ``parameters.retry_after``, 403, 400, 5xx).
``platform_error`` answers with its code as the HTTP status when it is one (401, 404, 409 …),
as Telegram does, else 400.

Updates for ``getUpdates`` are queued with `FakeTelegram.push_update`; the builders below
(`text_update`, `callback_update`, …) return the JSON Telegram would send, for webhook tests too.

Files people sent are registered with `FakeTelegram.add_file`: ``getFile`` answers with their
``file_path`` and ``GET /file/bot{token}/{file_path}`` serves their bytes (recorded as a
``file`` call), as the Bot API does; an unknown file_id is Telegram's 400.

Run standalone for benchmarks and crash tests::

    python -m tests.fakes.telegram --port 18081 --rate-cap 30 --stats-file /tmp/tg-stats.json

``GET /_fake/stats`` answers ``{"calls": {method: n}, "rejected_by_cap": n, "by_chat":
{chat_id: delivered sendMessage count}}``; ``POST /_fake/reset`` forgets calls and faults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.base import Call, FakePlatform, Fault

# The parameters aiogram sends as JSON text inside a form.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "allowed_updates",
        "link_preview_options",
        "media",
    }
)
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVoice",
        "sendAudio",
        "sendVideo",
        "sendSticker",
        "sendAnimation",
    }
)
_MEDIA_FIELD = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVoice": "voice",
    "sendAudio": "audio",
    "sendVideo": "video",
    "sendSticker": "sticker",
    "sendAnimation": "animation",
}
_LONG_POLL_CAP = 1.0  # seconds: tests must not wait out a real 30-second long poll
_OK_TRUE = b'{"ok":true,"result":true}'


async def _read_params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    params: dict[str, Any] = {}
    for key, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            params[key] = {"filename": value.filename, "size": len(value.file.read())}
        elif key in JSON_FIELDS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value  # as Telegram would, answer it; the test sees the raw text
        else:
            params[key] = value
    return params


def _error_response(fault: Fault) -> web.Response:
    if fault.kind == "rate_limited":
        return _error(
            429,
            f"Too Many Requests: retry after {fault.retry_after}",
            {"retry_after": fault.retry_after},
        )
    if fault.kind == "forbidden":
        return _error(403, fault.description or "Forbidden")
    if fault.kind == "bad_request":
        return _error(400, fault.description or "Bad Request")
    if fault.kind == "server_error":
        return _error(fault.status or 500, fault.description or "Internal Server Error")
    if fault.kind == "platform_error":
        status = fault.code if 400 <= fault.code < 600 else 400
        return _error(status, fault.description, code=fault.code)
    return _error(500, f"unknown fault {fault.kind}")


def _ok(result: Any) -> web.Response:
    body = json.dumps({"ok": True, "result": result}, ensure_ascii=False, separators=(",", ":"))
    return web.Response(text=body, content_type="application/json")


def _error(
    status: int,
    description: str,
    parameters: dict[str, Any] | None = None,
    *,
    code: int | None = None,
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code or status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _chat_number(chat_id: str) -> int:
    try:
        return int(chat_id)
    except ValueError:  # "@channelname": any stable number will do
        return -(abs(hash(chat_id)) % 10**12) - 10**12


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _confirmed(update: dict[str, Any], offset: int) -> bool:
    update_id = update.get("update_id")
    return type(update_id) is int and update_id < offset


def _truthy(value: Any) -> bool:
    return value in (True, "true", "True", "1", 1)


# -- update builders: the JSON Telegram posts ---------------------------------------------


def _user(user_id: int, first_name: str, language_code: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code is not None:
        user["language_code"] = language_code
    return user


def _chat(chat_id: int, chat_type: str, first_name: str) -> dict[str, Any]:
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": first_name}
    return {"id": chat_id, "type": chat_type, "title": "Tổ bảo vệ"}


def _message_update(
    update_id: int,
    user_id: int,
    content: dict[str, Any],
    *,
    first_name: str,
    language_code: str | None,
    chat_id: int | None,
    chat_type: str,
    message_id: int | None,
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id if message_id is not None else update_id + 1000,
            "date": int(time.time()),
            "chat": _chat(chat_id if chat_id is not None else user_id, chat_type, first_name),
            "from": _user(user_id, first_name, language_code),
            **content,
        },
    }


def text_update(
    update_id: int,
    user_id: int,
    text: str,
    *,
    first_name: str = "An",
    language_code: str | None = "vi",
    chat_id: int | None = None,
    chat_type: str = "private",
    message_id: int | None = None,
) -> dict[str, Any]:
    """A text message (a command too, when ``text`` starts with "/")."""
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        length = len(text.split(None, 1)[0].encode("utf-16-le")) // 2
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return _message_update(
        update_id,
        user_id,
        content,
        first_name=first_name,
        language_code=language_code,
        chat_id=chat_id,
        chat_type=chat_type,
        message_id=message_id,
    )


def callback_update(
    update_id: int,
    user_id: int,
    data: str,
    *,
    callback_id: str | None = None,
    message_id: int = 1,
    first_name: str = "An",
    language_code: str | None = "vi",
    chat_id: int | None = None,
    chat_type: str = "private",
) -> dict[str, Any]:
    """A pressed inline button under the bot's message ``message_id``."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": callback_id or f"cb{update_id}",
            "from": _user(user_id, first_name, language_code),
            "chat_instance": "-1",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": _chat(chat_id if chat_id is not None else user_id, chat_type, first_name),
                "from": {"id": 123456, "is_bot": True, "first_name": "Fake"},
                "text": "…",
            },
        },
    }


def location_update(
    update_id: int,
    user_id: int,
    latitude: float = 12.6675,
    longitude: float = 108.0378,
    *,
    first_name: str = "An",
    language_code: str | None = "vi",
    chat_id: int | None = None,
    chat_type: str = "private",
    message_id: int | None = None,
) -> dict[str, Any]:
    """A shared location (Buôn Ma Thuột by default)."""
    return _message_update(
        update_id,
        user_id,
        {"location": {"latitude": latitude, "longitude": longitude}},
        first_name=first_name,
        language_code=language_code,
        chat_id=chat_id,
        chat_type=chat_type,
        message_id=message_id,
    )


def photo_update(
    update_id: int,
    user_id: int,
    *,
    file_id: str = "AgAD-big",
    caption: str | None = None,
    first_name: str = "An",
    language_code: str | None = "vi",
    chat_id: int | None = None,
    chat_type: str = "private",
    message_id: int | None = None,
) -> dict[str, Any]:
    """A photo in two sizes, smallest first, as Telegram sends it."""
    content: dict[str, Any] = {
        "photo": [
            {
                "file_id": "AgAD-small",
                "file_unique_id": "u1",
                "width": 90,
                "height": 67,
                "file_size": 1200,
            },
            {
                "file_id": file_id,
                "file_unique_id": "u2",
                "width": 1280,
                "height": 960,
                "file_size": 98_000,
            },
        ]
    }
    if caption is not None:
        content["caption"] = caption
    return _message_update(
        update_id,
        user_id,
        content,
        first_name=first_name,
        language_code=language_code,
        chat_id=chat_id,
        chat_type=chat_type,
        message_id=message_id,
    )


def my_chat_member_update(
    update_id: int,
    user_id: int,
    status: str,
    *,
    old_status: str | None = None,
    first_name: str = "An",
    language_code: str | None = "vi",
    chat_id: int | None = None,
    chat_type: str = "private",
) -> dict[str, Any]:
    """The bot's own membership changed: "kicked" (blocked) or "member" (started again)."""
    bot = {"id": 123456, "is_bot": True, "first_name": "Fake", "username": "fake_bot"}
    before = old_status or ("member" if status == "kicked" else "kicked")
    member_extra: dict[str, Any] = {"until_date": 0} if status == "kicked" else {}
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": _chat(chat_id if chat_id is not None else user_id, chat_type, first_name),
            "from": _user(user_id, first_name, language_code),
            "date": int(time.time()),
            "old_chat_member": {"status": before, "user": bot},
            "new_chat_member": {"status": status, "user": bot, **member_extra},
        },
    }


# -- the server ----------------------------------------------------------------------------


class FakeTelegram(FakePlatform):
    """The Bot API for any token. ``async with FakeTelegram() as fake: fake.base_url``."""

    # The update builders, reachable from an instance too: ``fake.text_update(...)``.
    text_update = staticmethod(text_update)
    callback_update = staticmethod(callback_update)
    location_update = staticmethod(location_update)
    photo_update = staticmethod(photo_update)
    my_chat_member_update = staticmethod(my_chat_member_update)

    def __init__(self) -> None:
        super().__init__()
        self._message_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._update_arrived = asyncio.Event()
        self.webhook: dict[str, Any] = {}
        self.delivered: list[Call] = []  # successful sends, in order
        self.method_counts: Counter[str] = Counter()
        self.by_chat: Counter[str] = Counter()
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.app.router.add_post("/bot{token}/{method}", self._handle)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self.app.router.add_get("/_fake/stats", self._stats)
        self.app.router.add_post("/_fake/reset", self._reset)

    # -- control, used by tests ------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for ``getUpdates``."""
        self._updates.append(update)
        self._update_arrived.set()

    def add_file(self, file_id: str, data: bytes, *, file_path: str | None = None) -> None:
        """A file Telegram holds: ``getFile(file_id)`` finds it, its path serves ``data``."""
        self.files[file_id] = (file_path or f"photos/file_{len(self.files)}.jpg", data)

    def sent_texts(self, chat_id: str | int) -> list[str]:
        """What was delivered to ``chat_id``, in order: each message's text, or a media
        message's caption when it has one."""
        wanted = str(chat_id)
        texts = []
        for call in self.delivered:
            if str(call.params.get("chat_id")) == wanted:
                text = call.params.get("text", call.params.get("caption"))
                if text is not None:
                    texts.append(text)
        return texts

    def stats(self) -> dict[str, Any]:
        return {
            "calls": dict(self.method_counts),
            "rejected_by_cap": self.rejected_by_cap,
            "by_chat": dict(self.by_chat),
        }

    def reset(self) -> None:
        super().reset()
        self.delivered.clear()
        self.method_counts.clear()
        self.by_chat.clear()
        self._updates.clear()
        self.webhook = {}

    # -- the Bot API -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        params["_token"] = request.match_info["token"]
        self.method_counts[method] += 1
        fault = await self.intercept(request, method, params)
        if fault is not None:
            return _error_response(fault)
        if method in SEND_METHODS:
            return self._send(method, params)
        if method == "getUpdates":
            return await self._get_updates(params)
        if method in ("sendChatAction", "answerCallbackQuery"):
            return web.Response(body=_OK_TRUE, content_type="application/json")
        if method == "setWebhook":
            self.webhook = {
                key: params[key]
                for key in ("url", "secret_token", "allowed_updates", "max_connections")
                if key in params
            }
            return web.Response(body=_OK_TRUE, content_type="application/json")
        if method == "deleteWebhook":
            self.webhook = {}
            if _truthy(params.get("drop_pending_updates")):
                self._updates.clear()
            return web.Response(body=_OK_TRUE, content_type="application/json")
        if method == "getWebhookInfo":
            return _ok(
                {
                    "url": self.webhook.get("url", ""),
                    "has_custom_certificate": False,
                    "pending_update_count": len(self._updates),
                }
            )
        if method == "getFile":
            return self._get_file(params)
        if method == "getMe":
            bot_id = int(params["_token"].split(":", 1)[0] or 0)
            return _ok({"id": bot_id, "is_bot": True, "first_name": "Fake", "username": "fake_bot"})
        return _error(404, "Not Found")

    def _send(self, method: str, params: dict[str, Any]) -> web.Response:
        chat_id = str(params.get("chat_id", ""))
        if not chat_id:
            return _error(400, "Bad Request: chat_id is empty")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": _chat_number(chat_id), "type": "private"},
        }
        if method == "sendMessage":
            text = params.get("text")
            if not isinstance(text, str) or not text.strip():
                return _error(400, "Bad Request: message text is empty")
            message["text"] = text
            self.by_chat[chat_id] += 1
        elif isinstance(caption := params.get("caption"), str):
            message["caption"] = caption
        self.delivered.append(Call(method=method, params=params, at=time.monotonic()))
        return _ok(message)

    def _get_file(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id", ""))
        found = self.files.get(file_id)
        if found is None:
            return _error(400, "Bad Request: invalid file_id")
        path, data = found
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}"[:32],
                "file_size": len(data),
                "file_path": path,
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        params = {"_token": request.match_info["token"], "file_path": path}
        fault = await self.intercept(request, "file", params)
        if fault is not None:
            return _error_response(fault)
        for file_path, data in self.files.values():
            if file_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return _error(404, "Not Found")

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = _int(params.get("offset"))
        if offset is not None:
            # An offset confirms every update below it: Telegram forgets them.
            self._updates = [u for u in self._updates if not _confirmed(u, offset)]
        if not self._updates:
            wait = min(float(_int(params.get("timeout")) or 0), _LONG_POLL_CAP)
            self._update_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_arrived.wait(), wait)
        limit = _int(params.get("limit")) or 100
        return _ok(self._updates[:limit])

    # -- control routes for a fake in another process --------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})


# -- standalone runner ---------------------------------------------------------------------


async def _serve(port: int, rate_cap: float | None, stats_file: Path | None) -> None:
    fake = FakeTelegram()
    if rate_cap:
        fake.enforce_rate(rate_cap)
    base_url = await fake.start(port)
    print(f"fake telegram listening on {base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if stats_file is not None:
                _write_stats(stats_file, fake.stats())
    finally:
        await fake.stop()


def _write_stats(path: Path, stats: dict[str, Any]) -> None:
    # Written beside and renamed, so a reader never sees half a file.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(stats), encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Telegram Bot API server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-cap", type=float, default=None, help="sends per second")
    parser.add_argument("--stats-file", type=Path, default=None)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.rate_cap, args.stats_file))


if __name__ == "__main__":
    main()
