"""Token authentication of the REST API: the `authenticated` decorator.

Every operation but the OpenAPI document itself is wrapped once: the ``Authorization: Bearer
<token>`` header is checked by `services.apitokens.authenticate` on each request (so a revoked
token or a deactivated staff member is refused at once), and the staff member is put on the
request under the typed key `STAFF`. A missing or bad token is 401 with
``WWW-Authenticate: Bearer`` and one message, whatever was wrong with it (the service audits
the reason with the client's address); an address with too many refusals lately is 429 with
``Retry-After``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from communepol import keys
from communepol.db.models import Staff
from communepol.services import apitokens
from communepol.web.admin.shell import client_ip
from communepol.web.api.io import http_error

STAFF = web.RequestKey("api_staff", Staff)

ApiHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authenticated(handler: ApiHandler) -> ApiHandler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            staff = await apitokens.authenticate(
                request.app[keys.KEYRING],
                request.headers.get("Authorization"),
                ip=client_ip(request),
            )
        except apitokens.Throttled as err:
            raise http_error(
                web.HTTPTooManyRequests,
                err.message,
                headers={"Retry-After": str(err.retry_after)},
            ) from err
        except apitokens.InvalidToken as err:
            raise http_error(
                web.HTTPUnauthorized,
                err.message,
                headers={"WWW-Authenticate": 'Bearer realm="communepol"'},
            ) from err
        request[STAFF] = staff
        return await handler(request)

    return wrapper


def staff_of(request: web.Request) -> Staff:
    return request[STAFF]
