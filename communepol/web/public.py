"""Public pages: the list of information pages and each page with its posts (/p/{slug})."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from communepol.services import alertviews, pages
from communepol.web.templating import page_view, request_locale


@page_view
@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, Any]:
    return {"pages": await pages.list_public_pages()}


@page_view
@aiohttp_jinja2.template("page.html")
async def page(request: web.Request) -> dict[str, Any]:
    slug = request.match_info["slug"]
    return {
        "page": await pages.public_page(slug, request_locale(request)),
        "alerts": await alertviews.page_alerts_by_slug(slug),
    }


def setup_public(app: web.Application) -> None:
    app.router.add_get("/", index, name="index")
    app.router.add_get("/p/{slug}", page, name="page")
