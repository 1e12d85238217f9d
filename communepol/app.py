"""The composition root: `create_app(settings)` builds the whole service.

Everything with a lifetime — the database, later the bot adapters, the outbox dispatcher, the
inbox worker and the ticker — is opened in ``app.cleanup_ctx`` in dependency order and closed
in reverse; nothing happens at import. Handlers reach shared objects only through the typed
keys of `communepol.keys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from bots.conversation import BotServices, ConversationEngine, Router
from bots.officer import router as officer_router
from bots.registry import channel_factory
from bots.resident import router as resident_router
from communepol import keys
from communepol.crypto import Keyring
from communepol.db.orm import open_database, require_current_schema
from communepol.i18n import I18n
from communepol.jobs import Ticker, TipJobs
from communepol.services import breachwatch, tipmedia
from communepol.services.channels import ChannelFactory, ChannelRegistry
from communepol.services.inbox import InboxWriter
from communepol.services.posts import Publisher
from communepol.settings import Settings
from communepol.web.admin import setup_admin
from communepol.web.alerts import setup_alerts
from communepol.web.api import setup_api
from communepol.web.chathub import WebchatHub
from communepol.web.errors import error_middleware
from communepol.web.feeds import setup_feeds
from communepol.web.health import setup_health
from communepol.web.media import setup_media
from communepol.web.metrics import HttpMetrics, metrics_middleware
from communepol.web.public import setup_public
from communepol.web.qr import setup_qr
from communepol.web.security import security_headers_middleware
from communepol.web.templating import setup_templates
from communepol.web.tipfiles import setup_tipfiles
from communepol.web.webchat import setup_webchat
from communepol.web.webhooks import setup_webhooks
from communepol.workers.dispatcher import Dispatcher, default_limits
from communepol.workers.inbox import InboxWorker
from communepol.workers.metrics import WorkerMetrics
from communepol.workers.poller import Pollers

# Webhook bodies are small JSON documents; anything larger is refused with 413 before parsing.
MAX_REQUEST_BYTES = 1024 * 1024


def create_app(
    settings: Settings,
    *,
    run_workers: bool = True,
    factory: ChannelFactory | None = None,
) -> web.Application:
    """The whole service. ``run_workers=False`` serves HTTP only (webhooks still store into
    the inbox); ``factory`` replaces the platform adapters (tests)."""
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
    app[keys.WEBCHAT_HUB] = hub = WebchatHub()
    app[keys.CHANNELS] = ChannelRegistry(
        app[keys.KEYRING], factory or channel_factory(settings, hub)
    )
    app[keys.PUBLISHER] = Publisher(settings, app[keys.I18N])
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_workers(run_workers))

    setup_templates(app)
    setup_health(app)
    setup_public(app)
    setup_feeds(app)
    setup_qr(app)
    setup_media(app)
    setup_tipfiles(app)
    setup_alerts(app)
    setup_webhooks(app)
    setup_webchat(app)
    setup_admin(app)
    setup_api(app)
    return app


def resident_conversations() -> Router:
    router = Router()
    router.include(resident_router)
    router.include(officer_router)
    return router


def _owner() -> str:
    """This process's name in leases: unique even for two processes with one pid namespace."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    async with open_database(settings.database_url) as ctx:
        await require_current_schema(ctx)
        app[keys.DATABASE] = ctx
        yield


def _workers(run: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    """The inbox writer always (webhooks need it); the dispatcher, inbox worker and pollers
    when ``run`` — a process can serve HTTP only and leave the work to another."""

    async def workers(app: web.Application) -> AsyncIterator[None]:
        keyring = app[keys.KEYRING]
        owner = _owner()
        registry = app[keys.CHANNELS]
        rate = app[keys.SETTINGS].telegram_send_rate
        metrics = WorkerMetrics.create(app[keys.METRICS_REGISTRY])
        dispatcher = Dispatcher(
            registry,
            keyring,
            owner=owner,
            limits_for=lambda kind: default_limits(kind, rate),
            metrics=metrics,
        )
        engine = ConversationEngine(
            resident_conversations(),
            keyring,
            app[keys.I18N],
            base_url=app[keys.SETTINGS].public_base_url,
            services=BotServices(settings=app[keys.SETTINGS], keyring=keyring, channels=registry),
        )
        worker = InboxWorker(
            keyring,
            engine,
            owner=owner,
            registry=registry,
            on_processed=dispatcher.wake,
            metrics=metrics,
        )
        writer = InboxWriter(keyring, on_stored=worker.wake)
        app[keys.DISPATCHER] = dispatcher
        app[keys.INBOX_WORKER] = worker
        app[keys.INBOX_WRITER] = writer
        writer.start()
        tasks = []
        ticker: Ticker | None = None
        if run:
            pollers = Pollers(registry, writer, owner=owner)
            ticker = Ticker(
                app[keys.PUBLISHER],
                on_published=dispatcher.wake,
                tip_jobs=TipJobs(
                    keyring,
                    registry,
                    tipmedia.store_for(app[keys.SETTINGS].data_dir),
                    watch_limits=breachwatch.Limits(
                        app[keys.SETTINGS].watch_tip_reads, app[keys.SETTINGS].watch_refused
                    ),
                    zone=app[keys.SETTINGS].tz,
                ),
            )
            ticker.start()
            tasks = [
                asyncio.create_task(dispatcher.run(), name="dispatcher"),
                asyncio.create_task(worker.run(), name="inbox-worker"),
                asyncio.create_task(pollers.run(), name="pollers"),
            ]
        yield
        if ticker is not None:
            await ticker.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await writer.stop()
        await registry.close()

    return workers
