"""``GET /api/v1/me``: who the token belongs to — name, role and unit."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from communepol.db.models import Unit
from communepol.services import tipviews
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import json_response, read_query


def unit_json(unit: Unit) -> dict[str, Any]:
    return {"id": unit.id, "name": unit.name, "level": unit.level.value}


@authenticated
async def get_me(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    staff = staff_of(request)
    unit = await tipviews.unit_in_scope(staff, staff.unit_id)  # type: ignore[attr-defined]
    return json_response(
        {
            "id": staff.id,
            "full_name": staff.full_name,
            "role": staff.role.value,
            "unit": unit_json(unit),
        }
    )


ROUTES = [("GET", "/me", get_me)]
