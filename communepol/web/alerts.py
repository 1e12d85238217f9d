"""The public face of alerts: ``/a/{identifier}`` (the alert and its updates, readable on a
cheap phone), ``/a/{identifier}/cap.xml`` (the message as a CAP 1.2 document, for warning
aggregators and other agencies) and ``/a/{identifier}/photo``.

Only sent messages are public; anything else is a 404 through the error middleware, the same
answer as an identifier that never existed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from communepol import keys
from communepol.services import alertviews
from communepol.web.templating import page_view

CAP_CONTENT_TYPE = "application/cap+xml"
# An alert's photo can be withdrawn (found, cancelled): let caches keep it only briefly.
PHOTO_CACHE_CONTROL = "public, max-age=300"


def cap_sender(public_base_url: str) -> str:
    """The CAP sender of this installation: ``communepol@<host of the public address>``."""
    return f"communepol@{urlsplit(public_base_url).hostname or 'localhost'}"


@page_view
@aiohttp_jinja2.template("alert.html")
async def alert_page(request: web.Request) -> dict[str, Any]:
    return {"alert": await alertviews.public_alert(request.match_info["identifier"])}


async def alert_cap(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    body = await alertviews.cap_document(
        request.match_info["identifier"],
        sender=cap_sender(settings.public_base_url),
        base_url=settings.public_base_url,
        i18n=request.app[keys.I18N],
        tz=settings.tz,
    )
    return web.Response(body=body, content_type=CAP_CONTENT_TYPE, charset="utf-8")


async def alert_photo(request: web.Request) -> web.FileResponse:
    settings = request.app[keys.SETTINGS]
    path = await alertviews.alert_photo(request.match_info["identifier"], settings.data_dir)
    return web.FileResponse(path, headers={"Cache-Control": PHOTO_CACHE_CONTROL})


def setup_alerts(app: web.Application) -> None:
    # Identifiers are URL-safe by construction; anything else is not an alert (404).
    base = "/a/{identifier:[A-Za-z0-9._-]+}"
    app.router.add_get(base, alert_page, name="alert")
    app.router.add_get(f"{base}/cap.xml", alert_cap, name="alert-cap")
    app.router.add_get(f"{base}/photo", alert_photo, name="alert-photo")
