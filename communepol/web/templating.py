"""Server-rendered pages: Jinja2 with autoescaping, and the reader's language per request.

The language comes from ``?lang=``, then the ``lang`` cookie, then Accept-Language, then the
default (Vietnamese). Templates call ``_()``, ``ngettext()``, ``format_datetime()`` and
``format_number()``, all bound to that language.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from communepol import keys
from communepol.i18n import POST_CATEGORY_LABELS, SUPPORTED_LOCALES

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def request_locale(request: web.Request) -> str:
    i18n = request.app[keys.I18N]
    chosen = request.query.get("lang") or request.cookies.get("lang")
    if chosen:
        return i18n.normalize_locale(chosen)
    return i18n.negotiate(request.headers.get("Accept-Language"))


async def _locale_context(request: web.Request) -> dict[str, Any]:
    locale = request_locale(request)
    settings = request.app[keys.SETTINGS]
    i18n = request.app[keys.I18N]
    context: dict[str, Any] = dict(i18n.template_globals(locale, settings.tz))
    context["locale"] = locale
    context["category_label"] = lambda value: i18n.gettext(locale, POST_CATEGORY_LABELS[value])
    return context


LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def page_view(handler: Handler) -> Handler:
    """Wrap a page's handler: the template context in the reader's language, and a language
    picked with ``?lang=`` kept in a cookie for the next pages. A decorator on the page views
    rather than an app middleware, so webhooks and the web chat do not pay for it."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = await _locale_context(request)
        response = await handler(request)
        chosen = request.query.get("lang")
        if chosen and chosen in SUPPORTED_LOCALES and request.cookies.get("lang") != chosen:
            response.set_cookie(
                "lang",
                chosen,
                max_age=LANG_COOKIE_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=request.secure,
            )
        return response

    return wrapped


def setup_templates(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    app[aiohttp_jinja2.static_root_key] = "/static"
    app.router.add_static("/static", STATIC, name="static", append_version=True)
