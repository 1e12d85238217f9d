"""The admin web at /admin: sign-in, the staff shell and its screens, as a sub-application
with its own middleware (session, CSRF, no-store) so nothing of it runs for the public pages,
webhooks or the API."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from communepol import keys
from communepol.services.auth import Auth
from communepol.services.passwords import pwned_passwords
from communepol.web.admin.alerts import setup_alerts_routes
from communepol.web.admin.auditlog import setup_auditlog_routes
from communepol.web.admin.auth import admin_middleware, redirect, setup_auth_routes
from communepol.web.admin.groups import setup_groups_routes
from communepol.web.admin.pagesweb import setup_pagesweb_routes
from communepol.web.admin.posts import setup_posts_routes
from communepol.web.admin.queues import setup_queues_routes
from communepol.web.admin.roster import setup_roster_routes
from communepol.web.admin.tips import setup_tips_routes
from communepol.web.admin.views import setup_screen_routes


async def _to_admin(request: web.Request) -> web.StreamResponse:
    return redirect("/admin/")


def setup_admin(app: web.Application) -> None:
    app[keys.AUTH] = Auth(
        app[keys.KEYRING], breaches=pwned_passwords(app[keys.SETTINGS].pwned_passwords_url)
    )
    admin = web.Application(middlewares=[admin_middleware])
    # The layout's static() reads the root from the application that renders.
    admin[aiohttp_jinja2.static_root_key] = "/static"
    setup_auth_routes(admin)
    setup_screen_routes(admin)
    setup_tips_routes(admin)
    setup_groups_routes(admin)
    setup_roster_routes(admin)
    setup_pagesweb_routes(admin)
    setup_queues_routes(admin)
    setup_auditlog_routes(admin)
    setup_posts_routes(admin)
    setup_alerts_routes(admin)
    app.router.add_get("/admin", _to_admin)
    app.add_subapp("/admin", admin)
