"""The REST API under ``/api/v1``: `setup_api(app)` adds its routes.

One module per resource (`me`, `coverage`, `households`, `groups`, `tips`, `board`, `posts`,
`alerts`, `dashboard`), each a list of ``ROUTES`` whose handlers parse, call one service and
render JSON; `auth` checks the personal API token of every request; `io` holds the strict JSON
and query checks against the OpenAPI document (`openapi`, served at ``/api/v1/openapi.json``
without a token). Domain errors become ``{"error": …}`` responses in `communepol.web.errors`,
like everywhere else.
"""

from __future__ import annotations

from aiohttp import web

from communepol.web.api import (
    alerts,
    board,
    coverage,
    dashboard,
    groups,
    households,
    me,
    openapi,
    posts,
    tips,
)
from communepol.web.api.io import json_response


async def get_openapi(request: web.Request) -> web.StreamResponse:
    response = json_response(openapi.document())
    response.headers["Cache-Control"] = "no-cache"  # public, but follows each deployment
    return response


def setup_api(app: web.Application) -> None:
    routes = [("GET", "/openapi.json", get_openapi)]
    for module in (me, coverage, households, groups, tips, board, posts, alerts, dashboard):
        routes.extend(module.ROUTES)
    for method, path, handler in routes:
        app.router.add_route(method, openapi.PREFIX + path, handler)
