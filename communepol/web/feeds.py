"""Atom feeds of the public pages: ``/p/{slug}/feed.atom``, for newsreaders, a district's
website, or anyone who wants a page's posts without following it on a platform.

Built with ElementTree, so every title and body is escaped as XML text; entries are the page's
published posts in the reader's language (``?lang=``), falling back to the page's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from aiohttp import web

from communepol import keys
from communepol.i18n import POST_CATEGORY_LABELS
from communepol.services import pages
from communepol.web.templating import request_locale

ATOM = "http://www.w3.org/2005/Atom"
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _stamp(value: datetime | None) -> str:
    return (value or _EPOCH).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(page: pages.PublicPage, base_url: str, locale: str, label: dict[str, str]) -> bytes:
    """The Atom 1.0 document of ``page``'s published posts."""
    page_url = f"{base_url}/p/{page.slug}"
    # Entry ids are tag URIs: stable even if the site moves to another address.
    authority = urlsplit(base_url).hostname or "communepol"
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": locale})
    _text(feed, "id", page_url)
    _text(feed, "title", page.title)
    if page.description:
        _text(feed, "subtitle", page.description)
    latest = max((p.published_at for p in page.published if p.published_at), default=None)
    _text(feed, "updated", _stamp(latest))
    ET.SubElement(feed, "link", {"rel": "self", "href": f"{page_url}/feed.atom"})
    ET.SubElement(feed, "link", {"rel": "alternate", "type": "text/html", "href": page_url})
    author = ET.SubElement(feed, "author")
    _text(author, "name", f"{page.title} · {page.unit_name}")
    for post in page.published:
        entry = ET.SubElement(feed, "entry", {"xml:lang": post.locale})
        _text(entry, "id", f"tag:{authority},2025:post-{post.id}")
        _text(entry, "title", post.title)
        _text(entry, "published", _stamp(post.published_at))
        _text(entry, "updated", _stamp(post.published_at))
        ET.SubElement(
            entry, "category", {"term": post.category, "label": label.get(post.category, "")}
        )
        ET.SubElement(entry, "link", {"rel": "alternate", "href": f"{page_url}#post-{post.id}"})
        _text(entry, "content", post.body, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


async def page_feed(request: web.Request) -> web.Response:
    locale = request_locale(request)
    page = await pages.public_page(request.match_info["slug"], locale, limit=50)
    i18n = request.app[keys.I18N]
    labels = {key: i18n.gettext(locale, msg) for key, msg in POST_CATEGORY_LABELS.items()}
    base_url = request.app[keys.SETTINGS].public_base_url
    body = atom_feed(page, base_url, locale, labels)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


def setup_feeds(app: web.Application) -> None:
    app.router.add_get("/p/{slug}/feed.atom", page_feed, name="page-feed")
