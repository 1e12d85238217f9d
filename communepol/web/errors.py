"""Domain errors → HTTP, in one middleware. A person sees a short message in their language;
no stack trace ever reaches a response. Unexpected exceptions are logged with a request id
and answered 500 with that id, so an engineer can find them."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from communepol.errors import CommunepolError

log = logging.getLogger(__name__)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/healthz", "/readyz")) or (
        "application/json" in request.headers.get("Accept", "")
    )


def _error_response(request: web.Request, status: int, message: str) -> web.Response:
    if _wants_json(request):
        return web.json_response({"error": message}, status=status)
    return web.Response(text=message, status=status, content_type="text/plain", charset="utf-8")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except CommunepolError as err:
        return _error_response(request, err.http_status, err.message)
    except Exception:
        incident = uuid.uuid4().hex[:12]
        # The path can carry ids but never identities or tip text; bodies are never logged.
        log.exception("unhandled error %s on %s %s", incident, request.method, request.path)
        return _error_response(request, 500, f"internal error (incident {incident})")
