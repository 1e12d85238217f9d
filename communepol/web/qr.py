"""Printable follow material: each page's follow links as QR codes, and an A4 poster to put
on the station's wall or a hamlet's notice board.

* ``/p/{slug}/qr/{channel}.png`` and ``.svg`` — the QR code of one follow link (``channel``
  is a channel account id or ``web``; see `communepol.services.followlinks`). Public and
  cacheable for an hour, with an ETag over what the code encodes, so a changed handle or base
  URL is picked up at the next revalidation.
* ``/p/{slug}/poster`` — the poster: the page's title, and for each link its channel's name,
  its QR code, its address in print and one sentence saying what to do, in the reader's
  language.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from communepol import keys
from communepol.i18n import N_
from communepol.services import followlinks
from communepol.services.followlinks import FollowLink
from communepol.web.templating import page_view, request_locale

CACHE_CONTROL = "public, max-age=3600"
# Part of every ETag: bump it when the picture of a URL changes (scale, border, error level).
RENDERING = "qr1"

_FORMATS = {"png": "image/png", "svg": "image/svg+xml"}

INSTRUCTIONS: dict[str, str] = {
    "zalo_oa": N_("Scan the code with Zalo or your camera to follow this page."),
    "zalo_bot": N_("Scan the code with Zalo or your camera to follow this page."),
    "telegram": N_("Scan the code with your camera to follow this page on Telegram."),
    followlinks.WEB_CHANNEL: N_("Scan the code with your camera to open this page on the web."),
}


@dataclass(frozen=True)
class PosterEntry:
    """One follow link as the poster shows it, already in the reader's language."""

    name: str
    url: str
    image: str
    alt: str
    instruction: str


def etag_of(url: str, image_format: str) -> str:
    """The strong ETag value of ``url``'s QR code in ``image_format`` (png or svg)."""
    digest = hashlib.sha256(f"{RENDERING}\n{image_format}\n{url}".encode()).hexdigest()
    return digest[:32]


# QR codes are pure functions of the URL and cost a few milliseconds of the event loop each;
# a page has a handful of links, so the few hundred most recent are kept.
@functools.lru_cache(maxsize=256)
def _image(url: str, image_format: str) -> bytes:
    if image_format == "png":
        return followlinks.qr_png(url)
    return followlinks.qr_svg(url)


def _qr_headers(etag: str) -> dict[str, str]:
    return {"Cache-Control": CACHE_CONTROL, "ETag": f'"{etag}"'}


def _qr_view(image_format: str) -> Handler:
    async def qr_image(request: web.Request) -> web.Response:
        link = await followlinks.follow_link(
            request.match_info["slug"],
            request.match_info["channel"],
            request.app[keys.SETTINGS].public_base_url,
        )
        etag = etag_of(link.url, image_format)
        # If-None-Match compares weakly (RFC 9110 §13.1.2): a W/ prefix still matches.
        if any(tag.value in (etag, "*") for tag in request.if_none_match or ()):
            return web.Response(status=304, headers=_qr_headers(etag))
        return web.Response(
            body=_image(link.url, image_format),
            content_type=_FORMATS[image_format],
            headers=_qr_headers(etag),
        )

    qr_image.__name__ = f"qr_{image_format}"
    return qr_image


def _entry(request: web.Request, slug: str, link: FollowLink, locale: str) -> PosterEntry:
    i18n = request.app[keys.I18N]
    name = i18n.gettext(locale, link.label)
    return PosterEntry(
        name=name,
        url=link.url,
        image=f"/p/{quote(slug, safe='')}/qr/{link.channel}.svg",
        alt=i18n.gettext(locale, "QR code to follow this page: {channel}", channel=name),
        instruction=i18n.gettext(locale, INSTRUCTIONS[link.kind or followlinks.WEB_CHANNEL]),
    )


@page_view
@aiohttp_jinja2.template("poster.html")
async def poster(request: web.Request) -> dict[str, Any]:
    material = await followlinks.follow_links(
        request.match_info["slug"], request.app[keys.SETTINGS].public_base_url
    )
    locale = request_locale(request)
    return {
        "material": material,
        "entries": [_entry(request, material.slug, link, locale) for link in material.links],
    }


def setup_qr(app: web.Application) -> None:
    for image_format in _FORMATS:
        app.router.add_get(
            f"/p/{{slug}}/qr/{{channel}}.{image_format}",
            _qr_view(image_format),
            name=f"page-qr-{image_format}",
        )
    app.router.add_get("/p/{slug}/poster", poster, name="page-poster")
