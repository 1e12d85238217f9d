"""Placeholder: filled in by the qr work."""

from __future__ import annotations

from aiohttp import web


def setup_qr(app: web.Application) -> None:
    return None
