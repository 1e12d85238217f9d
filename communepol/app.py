"""The composition root: `create_app(settings)` builds the whole service.

Everything with a lifetime — the database, later the bot adapters, the outbox dispatcher, the
inbox worker and the ticker — is opened in ``app.cleanup_ctx`` in dependency order and closed
in reverse; nothing happens at import. Handlers reach shared objects only through the typed
keys of `communepol.keys`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from communepol import keys
from communepol.crypto import Keyring
from communepol.db.orm import open_database, require_current_schema
from communepol.i18n import I18n
from communepol.settings import Settings
from communepol.web.errors import error_middleware
from communepol.web.health import setup_health
from communepol.web.metrics import HttpMetrics, metrics_middleware
from communepol.web.public import setup_public
from communepol.web.security import security_headers_middleware
from communepol.web.templating import setup_templates

# Webhook bodies are small JSON documents; anything larger is refused with 413 before parsing.
MAX_REQUEST_BYTES = 1024 * 1024


def create_app(settings: Settings) -> web.Application:
    registry = CollectorRegistry(auto_describe=True)
    http_metrics = HttpMetrics.create(registry)
    # Order matters: metrics see every response, including error pages; the error middleware
    # turns domain errors into responses before security headers are added to them.
    app = web.Application(
        middlewares=[
            metrics_middleware(http_metrics),
            security_headers_middleware,
            error_middleware,
        ],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[keys.SETTINGS] = settings
    app[keys.KEYRING] = Keyring(settings.secret_key)
    app[keys.I18N] = I18n.load(default_locale=settings.default_locale)
    app[keys.METRICS_REGISTRY] = registry
    app.cleanup_ctx.append(_database)

    setup_templates(app)
    setup_health(app)
    setup_public(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    async with open_database(settings.database_url) as ctx:
        await require_current_schema(ctx)
        app[keys.DATABASE] = ctx
        yield
