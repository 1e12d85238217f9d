"""The tip desk through the API: ``GET /api/v1/tips`` (filtered by status, category, unit,
overdue; paged), ``GET /api/v1/tips/{reference}`` (the card and its thread) and the officer's
actions ``POST …/acknowledge``, ``…/reply`` (``{"text"}``) and ``…/resolve``
(``{"outcome"}``).

Each handler parses, calls the same services the officer bot calls (`services.tips.Tips`,
`services.tipviews`), and renders. Scope is theirs: another commune's tip is 404 like one that
does not exist. The sender is shown only as officers may see them — an anonymous tip's alias,
or the name the resident agreed to show — and no response carries a platform identity.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from communepol import keys
from communepol.db.models import Tip, TipMessage
from communepol.errors import NotFound
from communepol.services import tips, tipviews
from communepol.services.tips import Tips
from communepol.web.admin.shell import client_ip
from communepol.web.api import openapi
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import iso, json_response, read_json, read_query

SOURCE = "api"
_REFERENCE = re.compile(openapi.REFERENCE_PATTERN)


def reference_of(request: web.Request) -> str:
    """The tip reference in the path, always looked up as a reference (never as an id)."""
    typed = request.match_info.get("reference", "")
    if not _REFERENCE.match(typed):
        raise NotFound("not found")
    return f"T-{tips.normalize_reference(typed)}"


def summary_json(tip: Tip) -> dict[str, Any]:
    return {
        "reference": tips.display_reference(tip),
        "category": tip.category.value,
        "urgency": tip.urgency.value,
        "status": tip.status.value,
        "unit": {"id": tip.unit.id, "name": tip.unit.name},
        "created_at": iso(tip.created_at),
        "first_response_due_at": iso(tip.first_response_due_at),
        "resolution_due_at": iso(tip.resolution_due_at),
        "first_response_at": iso(tip.first_response_at),
        "resolved_at": iso(tip.resolved_at),
        "overdue": tips.is_overdue(tip),
    }


def message_json(message: TipMessage) -> dict[str, Any]:
    return {
        "direction": message.direction.value,
        "author": message.author.full_name if message.author else None,
        "text": message.text,
        "created_at": iso(message.created_at),
    }


def card_json(view: tipviews.TipView) -> dict[str, Any]:
    tip = view.tip
    located = tip.location_lat is not None and tip.location_lng is not None
    return summary_json(tip) | {
        "anonymous": tip.anonymous,
        "sender": view.sender,
        "text": tip.text,
        "location_text": tip.location_text,
        "location": (
            {"latitude": tip.location_lat, "longitude": tip.location_lng} if located else None
        ),
        "details": {str(k): str(v) for k, v in (tip.details or {}).items()},
        "assignee": tip.assignee.full_name if tip.assignee else None,
        "outcome": tip.outcome,
        "thread": [message_json(message) for message in view.thread],
    }


async def _card(request: web.Request, ref: str) -> dict[str, Any]:
    view = await tipviews.tip_view(
        request.app[keys.KEYRING], staff_of(request), ref, source=SOURCE, ip=client_ip(request)
    )
    return card_json(view)


@authenticated
async def list_tips(request: web.Request) -> web.StreamResponse:
    query = read_query(request, openapi.query_parameters("/tips", "get"))
    page = await tipviews.search_tips(
        staff_of(request),
        status=query["status"],
        category=query["category"],
        unit_id=query["unit"],
        overdue=query["overdue"],
        limit=query["limit"],
        offset=query["offset"],
    )
    return json_response(
        {"items": [summary_json(tip) for tip in page.items], "next_offset": page.next_offset}
    )


@authenticated
async def get_tip(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    return json_response(await _card(request, reference_of(request)))


@authenticated
async def acknowledge(request: web.Request) -> web.StreamResponse:
    ref = reference_of(request)
    await read_json(request, openapi.request_body("/tips/{reference}/acknowledge", "post"))
    await Tips(request.app[keys.KEYRING]).acknowledge(staff_of(request), ref, source=SOURCE)
    return json_response(await _card(request, ref))


@authenticated
async def reply(request: web.Request) -> web.StreamResponse:
    ref = reference_of(request)
    body = await read_json(request, openapi.request_body("/tips/{reference}/reply", "post"))
    reached = await Tips(request.app[keys.KEYRING]).reply(
        staff_of(request), ref, body["text"], source=SOURCE
    )
    return json_response({"reached": reached, "tip": await _card(request, ref)})


@authenticated
async def resolve(request: web.Request) -> web.StreamResponse:
    ref = reference_of(request)
    body = await read_json(request, openapi.request_body("/tips/{reference}/resolve", "post"))
    await Tips(request.app[keys.KEYRING]).resolve(
        staff_of(request), ref, body["outcome"], source=SOURCE
    )
    return json_response(await _card(request, ref))


ROUTES = [
    ("GET", "/tips", list_tips),
    ("GET", "/tips/{reference}", get_tip),
    ("POST", "/tips/{reference}/acknowledge", acknowledge),
    ("POST", "/tips/{reference}/reply", reply),
    ("POST", "/tips/{reference}/resolve", resolve),
]
