"""Platform webhooks: ``POST /webhooks/{kind}/{account_id}``.

A request is verified on its exact raw bytes (secret header or signature), parsed into
channel-neutral events and committed to the inbox; only then is it answered 200. Nothing is
processed inside the request. Answers: 404 for an unknown account or a kind that does not match
it, 413 for a body over `WEBHOOK_MAX_BYTES`, 401 for a wrong secret or signature (nothing is
stored), 400 for a malformed body, 503 when the inbox cannot store (so the platform delivers
again later). The body is never logged.
"""

from __future__ import annotations

from aiohttp import web

from communepol import keys
from communepol.db.models import ChannelKind
from communepol.errors import NotFound
from communepol.ports import WebhookRequest

# Platform events are small JSON documents; a 256 KiB cap leaves room and refuses floods.
WEBHOOK_MAX_BYTES = 256 * 1024

KIND_OF_PATH = {
    "telegram": ChannelKind.TELEGRAM,
    "zalo-oa": ChannelKind.ZALO_OA,
    "zalo-bot": ChannelKind.ZALO_BOT,
}


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to be larger than ``limit``."""
    if request.content_length is not None:
        if request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        return await request.read()  # the length is known and small: read it in one go
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request) -> web.Response:
    kind = KIND_OF_PATH.get(request.match_info["kind"])
    account_text = request.match_info["account_id"]
    if kind is None or not account_text.isdigit() or len(account_text) > 12:
        raise NotFound("no such webhook")
    account, channel = await request.app[keys.CHANNELS].get(int(account_text))
    if account.kind is not kind:
        raise NotFound("no such webhook")
    body = await read_limited(request, WEBHOOK_MAX_BYTES)
    channel.verify(WebhookRequest(headers=request.headers, body=body))
    events = channel.parse(body)
    await request.app[keys.INBOX_WRITER].store(account.id, events)
    return web.Response(body=b"{}", content_type="application/json")


def setup_webhooks(app: web.Application) -> None:
    app.router.add_post("/webhooks/{kind}/{account_id}", receive, name="webhook")
