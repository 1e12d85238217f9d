"""Every `web.AppKey` of the application, typed, in one place (no string keys)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry
from tortoise.context import TortoiseContext

from communepol.crypto import Keyring
from communepol.i18n import I18n
from communepol.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
KEYRING = web.AppKey("keyring", Keyring)
DATABASE = web.AppKey("database", TortoiseContext)
I18N = web.AppKey("i18n", I18n)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
