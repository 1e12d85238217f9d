"""``GET /api/v1/units/{id}/dashboard``: the admin web's dashboard figures of a unit in the
token owner's scope (`services.overview.dashboard`, the function the web's dashboard calls) —
open and overdue tips, tips received and answered in the last 30 days, the medians to the first
response and to resolution, followers and how they changed, publications and household
coverage."""

from __future__ import annotations

from aiohttp import web

from communepol.services import overview
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import iso, json_response, path_id, read_query
from communepol.web.api.me import unit_json


@authenticated
async def get_dashboard(request: web.Request) -> web.StreamResponse:
    unit_id = path_id(request)
    read_query(request, [])
    figures = await overview.dashboard(staff_of(request), unit_id)
    total = figures.coverage
    return json_response(
        {
            "unit": unit_json(figures.unit),
            "since": iso(figures.since),
            "open_tips": figures.open_tips,
            "overdue_tips": figures.overdue_tips,
            "received": figures.received,
            "answered": figures.answered,
            "median_first_response_minutes": figures.median_first_response_minutes,
            "median_resolution_minutes": figures.median_resolution_minutes,
            "first_response_by_commune": [
                {"name": bar.label, "value": bar.value} for bar in figures.response_bars
            ],
            "overdue_by_commune": [
                {"name": bar.label, "value": bar.value} for bar in figures.overdue_bars
            ],
            "followers": figures.followers,
            "followers_gained": figures.followers_gained,
            "followers_lost": figures.followers_lost,
            "published": figures.published,
            "coverage": {
                "name": total.name,
                "registered": total.registered,
                "own": total.own,
                "shared": total.shared,
                "confirmed": total.confirmed,
                "unreached": total.unreached,
            },
            "communes_with_households": figures.communes_with_households,
        }
    )


ROUTES = [("GET", "/units/{id}/dashboard", get_dashboard)]
