"""Operational endpoints: /healthz (the process answers), /readyz (the database answers),
/metrics (Prometheus text)."""

from __future__ import annotations

from aiohttp import web

from communepol import keys
from communepol.db.orm import check_database
from communepol.errors import Unavailable
from communepol.web.metrics import metrics_view


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await check_database(request.app[keys.DATABASE])
    except Unavailable as err:
        return web.json_response({"status": "unavailable", "database": err.message}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    return await metrics_view(request.app[keys.METRICS_REGISTRY])


def setup_health(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
