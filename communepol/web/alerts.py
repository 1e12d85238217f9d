"""Placeholder: filled in by the alerts work."""

from __future__ import annotations

from aiohttp import web


def setup_alerts(app: web.Application) -> None:
    return None
