"""The built-in web chat: a channel the service serves itself, at a page's public URL, for
residents with neither Zalo nor Telegram (and for the demo, which runs offline).

- ``POST /chat/{account_id}/messages`` — a message, command or button press from the browser,
  as JSON ``{"id": "<client id>", "text": "…"}`` or ``{"id": …, "action": "…"}``. It goes into
  the inbox like any platform event; the client id makes a resend on a bad connection
  harmless. Same-origin only (the Origin must match, and JSON forces a CORS pre-flight).
- ``GET /chat/{account_id}/events`` — the replies, as server-sent events. Each event's id is
  the outbox row's, so a reconnecting browser (``Last-Event-ID``) gets what it missed and
  nothing twice.

The visitor is known by a random token in an HttpOnly cookie: that token is their "platform
user id", sealed and hashed like any other, never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from communepol import keys
from communepol.db.models import ChannelKind, Contact, Delivery, DeliveryStatus
from communepol.errors import NotFound, PermissionDenied, ValidationError
from communepol.ports import MAX_ACTION_BYTES, InboundEvent, InboundKind, Sender
from communepol.text import clean_message

COOKIE = "cp_chat"
MAX_TEXT = 4000
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_KEEPALIVE_SECONDS = 15.0
_CROSS_PROCESS_POLL = 2.0  # replies sent by another process are found by polling this often


def _visitor(request: web.Request) -> str | None:
    token = request.cookies.get(COOKIE, "")
    return token if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", token) else None


def _set_visitor_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    secure = request.app[keys.SETTINGS].public_base_url.startswith("https://")
    response.set_cookie(
        COOKIE, token, max_age=180 * 24 * 3600, httponly=True, samesite="Lax", secure=secure
    )


def _same_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser cross-site request (browsers send Origin on POST)
    allowed = {urlsplit(request.app[keys.SETTINGS].public_base_url).netloc, request.host}
    if urlsplit(origin).netloc not in allowed:
        raise PermissionDenied("cross-site requests are not accepted")


async def _account_id(request: web.Request) -> int:
    text = request.match_info["account_id"]
    if not text.isdigit() or len(text) > 12:
        raise NotFound("no such chat")
    account, _ = await request.app[keys.CHANNELS].get(int(text))
    if account.kind is not ChannelKind.WEBCHAT:
        raise NotFound("no such chat")
    return account.id


def _event(visitor: str, body: Any) -> InboundEvent:
    if not isinstance(body, dict):
        raise ValidationError("expected a JSON object")
    client_id = body.get("id")
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise ValidationError("id must be 8-64 letters, digits, - or _", field="id")
    common: dict[str, Any] = {
        "event_id": f"{visitor[:12]}:{client_id}",
        "chat_id": visitor,
        "sender": Sender(platform_user_id=visitor),
        "message_id": client_id,
    }
    action = body.get("action")
    if action is not None:
        if not isinstance(action, str) or not 0 < len(action.encode()) <= MAX_ACTION_BYTES:
            raise ValidationError("unknown action", field="action")
        return InboundEvent(kind=InboundKind.BUTTON, action=action, **common)
    text = body.get("text")
    if not isinstance(text, str):
        raise ValidationError("a message needs text", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"a message is at most {MAX_TEXT} characters", field="text")
    text = clean_message(text)
    if not text:
        raise ValidationError("a message needs text", field="text")
    if text.startswith("/") and len(text) > 1:
        command, _, args = text[1:].partition(" ")
        return InboundEvent(
            kind=InboundKind.COMMAND,
            text=text,
            command=command.lower(),
            args=args.strip(),
            **common,
        )
    return InboundEvent(kind=InboundKind.TEXT, text=text, **common)


async def post_message(request: web.Request) -> web.Response:
    _same_origin(request)
    account_id = await _account_id(request)
    if request.content_type != "application/json":
        raise ValidationError("send JSON")
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValidationError("malformed JSON") from err
    visitor = _visitor(request) or secrets.token_urlsafe(32)
    await request.app[keys.INBOX_WRITER].store(account_id, [_event(visitor, body)])
    response = web.json_response({"ok": True}, status=202)
    _set_visitor_cookie(request, response, visitor)
    return response


def _reply_json(row: Delivery) -> str:
    payload = dict(row.payload)
    return json.dumps(
        {k: payload[k] for k in ("text", "buttons", "media") if k in payload}, ensure_ascii=False
    )


async def _contact_id(request: web.Request, account_id: int, visitor: str) -> int | None:
    key = request.app[keys.KEYRING].identity_hash(account_id, visitor)
    contact = await Contact.filter(channel_account_id=account_id, identity_hash=key).first()
    return contact.id if contact else None


async def events(request: web.Request) -> web.StreamResponse:
    account_id = await _account_id(request)
    visitor = _visitor(request)
    if visitor is None:
        raise NotFound("no conversation yet")
    after_text = request.headers.get("Last-Event-ID") or request.query.get("after", "0")
    after = int(after_text) if after_text.isdigit() and len(after_text) < 19 else 0
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx must not hold the stream back
        }
    )
    await response.prepare(request)
    # The visitor closing the page or losing signal ends the stream; the browser reconnects.
    with contextlib.suppress(ConnectionError):
        await _stream(request, response, account_id, visitor, after)
    return response


async def _stream(
    request: web.Request, response: web.StreamResponse, account_id: int, visitor: str, after: int
) -> None:
    """Write each reply once, by outbox id, until the visitor goes away."""
    contact_id: int | None = None
    idle = 0.0
    with request.app[keys.WEBCHAT_HUB].listen(visitor) as woken:
        while request.transport is not None and not request.transport.is_closing():
            if contact_id is None:
                contact_id = await _contact_id(request, account_id, visitor)
            rows: list[Delivery] = []
            if contact_id is not None:
                rows = (
                    await Delivery.filter(
                        contact_id=contact_id, id__gt=after, status=DeliveryStatus.SENT
                    )
                    .order_by("id")
                    .limit(50)
                )
            for row in rows:
                await response.write(f"id: {row.id}\ndata: {_reply_json(row)}\n\n".encode())
                after = row.id
            if rows:
                idle = 0.0
                continue
            if idle >= _KEEPALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                idle = 0.0
            woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), _CROSS_PROCESS_POLL)
            idle += _CROSS_PROCESS_POLL


def setup_webchat(app: web.Application) -> None:
    app.router.add_post("/chat/{account_id}/messages", post_message, name="chat-messages")
    app.router.add_get("/chat/{account_id}/events", events, name="chat-events")
