"""Follow links: the addresses that start following a page, one per channel, for posters,
QR codes and leaflets.

A page is followed through each active channel account that carries it and has a public
handle (a Telegram bot's username, a Zalo OA's or Zalo Bot's id), and always on the web at
``/p/{slug}?follow=1``. An account without a handle cannot be linked to, and a paused or
broken one would not answer, so neither is listed.

The Telegram link carries the deep-link payload ``p{page_id}`` (``/start p12``). That payload
is a contract with the bot's ``/start`` handler, which reads it with `page_id_from_payload`:
printed posters outlive releases, so its form never changes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import quote

import segno

from communepol.db.models import ChannelAccount, ChannelKind, ChannelStatus, Page
from communepol.errors import NotFound
from communepol.i18n import N_

WEB_CHANNEL = "web"  # the channel token of the web link; the others are account ids

# Telegram allows 64 characters of [A-Za-z0-9_-] in a start payload; ours is "p" + page id.
START_PAYLOAD_PREFIX = "p"
_START_PAYLOAD = re.compile(r"p([1-9][0-9]{0,9})", re.ASCII)
_MAX_PAGE_ID = 2**31 - 1  # page ids are 32-bit integers: a larger one cannot name a page

# Platform names are proper nouns, the same in every language; only the web one is translated.
CHANNEL_LABELS: dict[ChannelKind, str] = {
    ChannelKind.ZALO_OA: "Zalo",
    ChannelKind.ZALO_BOT: "Zalo Bot",
    ChannelKind.TELEGRAM: "Telegram",
}
WEB_LABEL = N_("Web page")

# Most residents use Zalo: its links come first on a poster; the web link always comes last.
_KIND_ORDER = {ChannelKind.ZALO_OA: 0, ChannelKind.ZALO_BOT: 1, ChannelKind.TELEGRAM: 2}

# QR codes for print: error correction level M, not boosted (segno raises the level to Q or H
# whenever that keeps the code's size, so the level would depend on the URL's length), the
# standard four-module quiet zone, black on white.
QR_ERROR = "m"
QR_BORDER = 4


@dataclass(frozen=True)
class FollowLink:
    channel: str  # URL token: the channel account id as a string, or "web"
    kind: ChannelKind | None  # None for the web link
    label: str  # the channel's name; a msgid for the web link (translate at the edge)
    url: str


@dataclass(frozen=True)
class FollowMaterial:
    slug: str
    title: str
    unit_name: str
    links: list[FollowLink]

    def link(self, channel: str) -> FollowLink:
        """The link of ``channel`` (an account id or ``"web"``); `NotFound` if the page has
        no such link — an unknown account, another page's, or one that cannot be linked."""
        for link in self.links:
            if link.channel == channel:
                return link
        raise NotFound("no such follow link")


def start_payload(page_id: int) -> str:
    """The Telegram ``/start`` payload that follows page ``page_id``: ``p12``."""
    return f"{START_PAYLOAD_PREFIX}{page_id}"


def page_id_from_payload(payload: str) -> int | None:
    """The page id in a ``/start`` payload made by `start_payload`, or None for anything
    else (``p``, ``x12``, ``p12a``, ``p-1``, ``p012``, an id too large to be a page)."""
    match = _START_PAYLOAD.fullmatch(payload)
    if match is None:
        return None
    page_id = int(match.group(1))
    return page_id if page_id <= _MAX_PAGE_ID else None


def _handle(account: ChannelAccount) -> str | None:
    handle = (account.public_handle or "").strip()
    if account.kind is ChannelKind.TELEGRAM:
        handle = handle.removeprefix("@")
    # A handle is staff-entered text: quoted so that a stray space or "?" cannot change the
    # link into another one.
    return quote(handle, safe="") or None


def _account_url(account: ChannelAccount, handle: str, page_id: int) -> str | None:
    if account.kind is ChannelKind.TELEGRAM:
        return f"https://t.me/{handle}?start={start_payload(page_id)}"
    if account.kind in (ChannelKind.ZALO_OA, ChannelKind.ZALO_BOT):
        return f"https://zalo.me/{handle}"
    return None  # the web chat lives on the page itself: the web link covers it


def web_url(slug: str, base_url: str) -> str:
    """The page's public address that offers following it on the web."""
    return f"{base_url.rstrip('/')}/p/{quote(slug, safe='')}?follow=1"


async def follow_links(slug: str, base_url: str) -> FollowMaterial:
    """Every way to follow the active page ``slug``; `NotFound` for an unknown or inactive
    page. ``base_url`` is the service's public address (``COMMUNEPOL_PUBLIC_BASE_URL``)."""
    page = await Page.filter(slug=slug, active=True).select_related("unit").first()
    if page is None:
        raise NotFound("page not found")
    accounts = await ChannelAccount.filter(
        pages__page_id=page.id,
        status=ChannelStatus.ACTIVE,
        public_handle__isnull=False,
    ).order_by("id")
    links: list[FollowLink] = []
    for account in sorted(accounts, key=lambda a: (_KIND_ORDER.get(a.kind, 9), a.id)):
        handle = _handle(account)
        url = _account_url(account, handle, page.id) if handle else None
        if url is not None:
            links.append(
                FollowLink(str(account.id), account.kind, CHANNEL_LABELS[account.kind], url)
            )
    links.append(FollowLink(WEB_CHANNEL, None, WEB_LABEL, web_url(page.slug, base_url)))
    return FollowMaterial(slug=page.slug, title=page.title, unit_name=page.unit.name, links=links)


async def follow_link(slug: str, channel: str, base_url: str) -> FollowLink:
    """One of `follow_links`: ``channel`` is an account id or ``"web"``; `NotFound` unless
    the active page ``slug`` is followed through it."""
    return (await follow_links(slug, base_url)).link(channel)


def _qr(url: str) -> segno.QRCode:
    return segno.make_qr(url, error=QR_ERROR, boost_error=False)


def qr_png(url: str, *, scale: int = 10) -> bytes:
    """The QR code of ``url`` as a black-on-white PNG, ``scale`` pixels per module."""
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=QR_BORDER, dark="black", light="white")
    return out.getvalue()


def qr_svg(url: str, *, scale: int = 10) -> bytes:
    """The QR code of ``url`` as a black-on-white SVG document titled with the URL, UTF-8
    without an XML declaration (UTF-8 is XML's default, and the document can be inlined)."""
    out = io.BytesIO()
    _qr(url).save(
        out,
        kind="svg",
        scale=scale,
        border=QR_BORDER,
        dark="black",
        light="white",
        title=url,
        xmldecl=False,
        encoding="utf-8",
    )
    return out.getvalue()
