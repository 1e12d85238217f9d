"""Every `web.AppKey` of the application, typed, in one place (no string keys)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry
from tortoise.context import TortoiseContext

from communepol.crypto import Keyring
from communepol.i18n import I18n
from communepol.services.auth import Auth
from communepol.services.channels import ChannelRegistry
from communepol.services.inbox import InboxWriter
from communepol.services.posts import Publisher
from communepol.settings import Settings
from communepol.web.chathub import WebchatHub
from communepol.workers.dispatcher import Dispatcher
from communepol.workers.inbox import InboxWorker

SETTINGS = web.AppKey("settings", Settings)
KEYRING = web.AppKey("keyring", Keyring)
DATABASE = web.AppKey("database", TortoiseContext)
I18N = web.AppKey("i18n", I18n)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
CHANNELS = web.AppKey("channels", ChannelRegistry)
INBOX_WRITER = web.AppKey("inbox_writer", InboxWriter)
INBOX_WORKER = web.AppKey("inbox_worker", InboxWorker)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
WEBCHAT_HUB = web.AppKey("webchat_hub", WebchatHub)
PUBLISHER = web.AppKey("publisher", Publisher)
AUTH = web.AppKey("auth", Auth)
