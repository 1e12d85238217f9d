"""Prometheus metrics: one registry per application (no module globals), request counters and
latency by route, and the /metrics endpoint in the Prometheus text format."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


@dataclass(frozen=True)
class HttpMetrics:
    requests: Counter
    latency: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> HttpMetrics:
        return cls(
            requests=Counter(
                "communepol_http_requests",
                "HTTP requests handled, by route and status class",
                ["route", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "communepol_http_request_seconds",
                "Time to handle an HTTP request, by route",
                ["route"],
                registry=registry,
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            ),
        )


_STATUS_CLASS = {n: f"{n}xx" for n in range(10)}


def route_label(request: web.Request) -> str:
    """The route's pattern, never the concrete path: paths carry ids and slugs."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: HttpMetrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = route_label(request)
            metrics.requests.labels(route, _STATUS_CLASS[status // 100]).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)

    return middleware


async def metrics_view(registry: CollectorRegistry) -> web.Response:
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
