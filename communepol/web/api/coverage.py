"""``GET /api/v1/units/{id}/coverage``: which registered households of a commune the station
reaches — per hamlet and for the commune (registered, through their own account, through a
shared one, confirmed for the latest alert, not reached), the households not reached, for
the home visits, and the households confirmed told for each of the latest alerts. The figures
and the scope check are `services.coverage.coverage`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from communepol.db.models import Household, UnitLevel
from communepol.services import coverage
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import iso, json_response, path_id, read_query


def figures_json(figures: coverage.Figures) -> dict[str, Any]:
    return {
        "name": figures.name,
        "registered": figures.registered,
        "own": figures.own,
        "shared": figures.shared,
        "confirmed": figures.confirmed,
        "unreached": figures.unreached,
    }


def household_ref(household: Household, hamlet_name: str) -> dict[str, Any]:
    return {
        "id": household.id,
        "head_name": household.head_name,
        "members_count": household.members_count,
        "address": household.address,
        "hamlet": {"id": household.hamlet_id, "name": hamlet_name},  # type: ignore[attr-defined]
    }


@authenticated
async def get_coverage(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    commune_id = path_id(request)
    result = await coverage.coverage(staff_of(request), commune_id)
    await Household.fetch_for_list(result.unreached, "hamlet")
    return json_response(
        {
            "commune": {
                "id": commune_id,
                "name": result.commune.name,
                "level": UnitLevel.COMMUNE.value,
            },
            "totals": figures_json(result.commune),
            "hamlets": [figures_json(figures) for figures in result.hamlets],
            "unreached": [household_ref(h, h.hamlet.name) for h in result.unreached],
            "alert_publication_id": result.alert_publication_id,
            "alerts": [
                {
                    "publication_id": relay.publication_id,
                    "headline": relay.headline,
                    "sent_at": iso(relay.sent_at),
                    "confirmed": relay.confirmed,
                }
                for relay in result.alerts
            ],
        }
    )


ROUTES = [("GET", "/units/{id}/coverage", get_coverage)]
