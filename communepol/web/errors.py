"""Domain errors → HTTP, in one middleware. A person sees a short message in their language;
no stack trace ever reaches a response. Unexpected exceptions are logged with a request id
and answered 500 with that id, so an engineer can find them."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from communepol import keys
from communepol.errors import CommunepolError, ValidationError

log = logging.getLogger(__name__)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/healthz", "/readyz")) or (
        "application/json" in request.headers.get("Accept", "")
    )


def _error_response(request: web.Request, status: int, message: str) -> web.Response:
    if _wants_json(request):
        return web.json_response({"error": message}, status=status)
    return web.Response(text=message, status=status, content_type="text/plain", charset="utf-8")


def _readable(request: web.Request, err: CommunepolError) -> str:
    """A public page's refusal in the browser's language; machines (JSON) get the English."""
    i18n = request.config_dict.get(keys.I18N)
    if i18n is None or _wants_json(request):
        return err.message
    return i18n.error_text(i18n.negotiate(request.headers.get("Accept-Language")), err)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _api_error(status: int, message: str, field: str | None = None) -> web.Response:
    """The REST API's errors: JSON, never cached."""
    body = {"error": message} | ({"field": field} if field else {})
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # The API answers every refusal as a JSON response (so the security headers are
        # added to it too): aiohttp's own (no such route, wrong method, body too large) are
        # plain text and get the API's body; their Allow, WWW-Authenticate and Retry-After
        # are kept.
        if _is_api(request) and exc.status >= 400:
            if exc.content_type == "application/json" and isinstance(exc.body, bytes):
                response = web.Response(
                    body=exc.body,
                    status=exc.status,
                    content_type="application/json",
                    headers={"Cache-Control": "no-store"},
                )
            else:
                response = _api_error(exc.status, exc.reason)
            for name in ("Allow", "WWW-Authenticate", "Retry-After"):
                if name in exc.headers:
                    response.headers[name] = exc.headers[name]
            return response
        raise
    except CommunepolError as err:
        if _is_api(request):
            # The API says 422 for a field it cannot accept, and names the field.
            if isinstance(err, ValidationError):
                return _api_error(422, err.message, err.field)
            return _api_error(err.http_status, err.message)
        return _error_response(request, err.http_status, _readable(request, err))
    except Exception:
        incident = uuid.uuid4().hex[:12]
        # The path can carry ids but never identities or tip text; bodies are never logged.
        log.exception("unhandled error %s on %s %s", incident, request.method, request.path)
        return _error_response(request, 500, f"internal error (incident {incident})")
