"""``GET /api/v1/board?unit=<id>&days=30``: the response-time board of a unit in the token
owner's scope — per commune, tips received, answered, median and 90th-percentile minutes to
the first response, open and overdue now (`services.tipviews.board`, the figures of
`sla.response_times_for_unit`)."""

from __future__ import annotations

from aiohttp import web

from communepol.services import tipviews
from communepol.web.api import openapi
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import iso, json_response, read_query
from communepol.web.api.me import unit_json


@authenticated
async def get_board(request: web.Request) -> web.StreamResponse:
    query = read_query(request, openapi.query_parameters("/board", "get"))
    board = await tipviews.board(staff_of(request), query["unit"], days=query["days"])
    return json_response(
        {
            "unit": unit_json(board.unit),
            "since": iso(board.since),
            "communes": [
                {
                    "unit": {"id": row.unit_id, "name": row.unit_name},
                    "received": row.received,
                    "answered": row.answered,
                    "median_minutes": row.median_minutes,
                    "p90_minutes": row.p90_minutes,
                    "open": row.open,
                    "overdue": row.overdue,
                }
                for row in board.rows
            ],
        }
    )


ROUTES = [("GET", "/board", get_board)]
