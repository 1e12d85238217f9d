"""Households through the API: ``GET /api/v1/communes/{id}/households`` (by hamlet, paged,
optionally one hamlet's), ``POST /api/v1/hamlets/{id}/households`` (register one) and ``POST
/api/v1/communes/{id}/households/import`` (the station's CSV as a ``text/csv`` body; good rows
kept, each bad row named with its line). The checks, the scope and the audit are
`services.households`; out of scope is 404."""

from __future__ import annotations

import csv
from typing import Any

from aiohttp import web

from communepol.db.models import Household
from communepol.errors import ValidationError
from communepol.services import households
from communepol.web.api import openapi
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import http_error, json_response, path_id, read_json, read_query

SOURCE = "api"
CSV = "text/csv"


def household_json(household: Household) -> dict[str, Any]:
    return {
        "id": household.id,
        "head_name": household.head_name,
        "members_count": household.members_count,
        "address": household.address,
        "hamlet": {"id": household.hamlet.id, "name": household.hamlet.name},
    }


@authenticated
async def list_households(request: web.Request) -> web.StreamResponse:
    commune_id = path_id(request)
    query = read_query(request, openapi.query_parameters("/communes/{id}/households", "get"))
    found = await households.list_households(
        staff_of(request), commune_id, hamlet_id=query["hamlet"]
    )
    start, limit = query["offset"], query["limit"]
    page = found[start : start + limit]
    more = start + limit < len(found)
    return json_response(
        {
            "items": [household_json(household) for household in page],
            "next_offset": start + limit if more else None,
        }
    )


@authenticated
async def add_household(request: web.Request) -> web.StreamResponse:
    hamlet_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/hamlets/{id}/households", "post"))
    household = await households.add_household(
        staff_of(request),
        hamlet_id,
        head_name=body["head_name"],
        members_count=body["members_count"],
        address=body.get("address", ""),
        phone=body.get("phone"),
        source=SOURCE,
    )
    await household.fetch_related("hamlet")
    return json_response(household_json(household), status=201)


@authenticated
async def import_households(request: web.Request) -> web.StreamResponse:
    commune_id = path_id(request)
    path = "/communes/{id}/households/import"
    query = read_query(request, openapi.query_parameters(path, "post"))
    data = await request.read()  # over the app's client_max_size: 413
    if request.content_type != CSV:
        raise http_error(web.HTTPUnsupportedMediaType, "send text/csv")
    if not data.strip():
        raise ValidationError("the CSV file is empty", field="body")
    try:
        result = await households.import_for(
            staff_of(request),
            commune_id,
            data,
            create_hamlets=query["create_hamlets"],
            source=SOURCE,
        )
    except csv.Error as err:
        # The CSV reader refuses some malformed files (a bare carriage return inside a field)
        # with its own error, which the service lets through; here it is bad input, not 500.
        raise ValidationError("the file is not a readable CSV file", field="body") from err
    return json_response(
        {
            "added": result.added,
            "hamlets_added": result.hamlets_added,
            "refused": [{"line": row.line, "reason": row.reason} for row in result.bad],
        }
    )


ROUTES = [
    ("GET", "/communes/{id}/households", list_households),
    ("POST", "/hamlets/{id}/households", add_household),
    ("POST", "/communes/{id}/households/import", import_households),
]
