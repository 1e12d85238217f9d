"""The OpenAPI 3.1 document of the REST API, written as data, served at
``/api/v1/openapi.json`` without a token.

It is the contract in both directions: `communepol.web.api.io` checks every request body and
query string against the operation's schemas here (request bodies have
``additionalProperties: false``: an unknown field is refused), ``tests/web/test_api_openapi.py``
fails when a route is missing from the document or the document names a route the app does not
have, and ``tests/web/test_api_schemathesis.py`` checks the responses against the response
schemas.
"""

from __future__ import annotations

import copy
from typing import Any

from communepol.db.models import (
    Role,
    TipCategory,
    TipMessageDirection,
    TipStatus,
    UnitLevel,
    Urgency,
)
from communepol.services.householdgroups import MAX_MEMBERS as MAX_GROUP
from communepol.services.households import MAX_MEMBERS
from communepol.services.tips import MAX_TEXT

PREFIX = "/api/v1"
REFERENCE_PATTERN = r"^(?:[Tt]-?)?[ACDEFHJKLMNPRTUVWXY3479acdefhjklmnprtuvwxy]{6}$"

_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_STR_OR_NULL = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


def _body(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON request body that takes exactly these fields."""
    schema = _object(properties, optional=optional) | {"additionalProperties": False}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(schema: str, description: str, status: str = "200") -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    }


def _errors(*statuses: str) -> dict[str, Any]:
    texts = {
        "400": "Malformed request (the body is not JSON).",
        "401": "No valid API token.",
        "404": "Not found, or outside the token owner's scope.",
        "409": "The object changed meanwhile or is already in that state.",
        "413": "The body is too large.",
        "415": "The body is not of the expected media type.",
        "422": "A field is unknown, missing, of the wrong type or out of range.",
    }
    found: dict[str, Any] = {
        status: {
            "description": texts[status],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for status in ("401", *statuses)
    }
    # Every operation with a token: an address refused too often lately must wait.
    found["429"] = {
        "description": "Too many refused tokens from this address lately; retry after the "
        "number of seconds in Retry-After.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    return found


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": _ID}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


LIMIT = _query(
    "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}, "Page size."
)
OFFSET = _query(
    "offset",
    {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
    "Items to skip.",
)
REFERENCE = {
    "name": "reference",
    "in": "path",
    "required": True,
    "description": "The tip's reference, e.g. T-7K3M9P.",
    "schema": {"type": "string", "pattern": REFERENCE_PATTERN},
}

REPLY_BODY = _body({"text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}})
RESOLVE_BODY = _body({"outcome": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}})
HOUSEHOLD_BODY = _body(
    {
        "head_name": {"type": "string", "minLength": 1, "maxLength": 200},
        "members_count": {"type": "integer", "minimum": 1, "maximum": MAX_MEMBERS},
        "address": {"type": "string", "maxLength": 300},
        "phone": {"type": ["string", "null"], "maxLength": 20},
    },
    optional=("address", "phone"),
)
GROUP_BODY = _body(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "household_ids": {"type": "array", "items": _ID, "minItems": 1, "maxItems": MAX_GROUP},
    }
)
MEMBER_BODY = _body({"household_id": _ID})
EMPTY_BODY = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {}, "additionalProperties": False}
        }
    },
}
CSV_BODY = {
    "required": True,
    "content": {"text/csv": {"schema": {"type": "string", "maxLength": 1024 * 1024}}},
}

_UNIT = _object(
    {
        "id": _ID,
        "name": {"type": "string"},
        "level": {"type": "string", "enum": [level.value for level in UnitLevel]},
    }
)
_FIGURES = _object(
    {
        "name": {"type": "string"},
        "registered": {"type": "integer"},
        "own": {"type": "integer"},
        "shared": {"type": "integer"},
        "confirmed": {"type": "integer"},
        "unreached": {"type": "integer"},
    }
)
_HOUSEHOLD = _object(
    {
        "id": _ID,
        "head_name": {"type": "string"},
        "members_count": {"type": "integer"},
        "address": {"type": "string"},
        "hamlet": _ref("UnitRef"),
    }
)
_MEMBER = {
    "allOf": [_ref("Household"), _object({"agreed": {"type": "boolean"}})],
}
_GROUP = _object(
    {
        "id": _ID,
        "name": {"type": "string"},
        "commune": _ref("UnitRef"),
        "representative_linked": {"type": "boolean"},
        "linked_at": _TIME_OR_NULL,
        "households": {"type": "array", "items": _ref("GroupMember")},
    }
)
_CODE = {
    "link_code": {"type": "string", "pattern": "^[A-Z2-9]{4}-[A-Z2-9]{4}$"},
    "expires_at": _TIME,
}
_TIP_SUMMARY = _object(
    {
        "reference": {"type": "string"},
        "category": {"type": "string", "enum": [c.value for c in TipCategory]},
        "urgency": {"type": "string", "enum": [u.value for u in Urgency]},
        "status": {"type": "string", "enum": [s.value for s in TipStatus]},
        "unit": _ref("UnitRef"),
        "created_at": _TIME,
        "first_response_due_at": _TIME_OR_NULL,
        "resolution_due_at": _TIME_OR_NULL,
        "first_response_at": _TIME_OR_NULL,
        "resolved_at": _TIME_OR_NULL,
        "overdue": {"type": "boolean"},
    }
)
_MESSAGE = _object(
    {
        "direction": {"type": "string", "enum": [d.value for d in TipMessageDirection]},
        "author": _STR_OR_NULL,
        "text": {"type": "string"},
        "created_at": _TIME,
    }
)
_TIP = {
    "allOf": [
        _ref("TipSummary"),
        _object(
            {
                "anonymous": {"type": "boolean"},
                "sender": {"type": "string"},
                "text": {"type": "string"},
                "location_text": _STR_OR_NULL,
                "location": {
                    "oneOf": [
                        {"type": "null"},
                        _object({"latitude": {"type": "number"}, "longitude": {"type": "number"}}),
                    ]
                },
                "details": {"type": "object", "additionalProperties": {"type": "string"}},
                "assignee": _STR_OR_NULL,
                "outcome": _STR_OR_NULL,
                "thread": {"type": "array", "items": _ref("Message")},
            }
        ),
    ]
}
_BOARD_ROW = _object(
    {
        "unit": _ref("UnitRef"),
        "received": {"type": "integer"},
        "answered": {"type": "integer"},
        "median_minutes": {"type": ["number", "null"]},
        "p90_minutes": {"type": ["number", "null"]},
        "open": {"type": "integer"},
        "overdue": {"type": "integer"},
    }
)


def _page(item: str) -> dict[str, Any]:
    return _object(
        {
            "items": {"type": "array", "items": _ref(item)},
            "next_offset": {"type": ["integer", "null"]},
        }
    )


SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {"error": {"type": "string"}, "field": {"type": "string"}}, optional=("field",)
    ),
    "UnitRef": _object({"id": _ID, "name": {"type": "string"}}),
    "Unit": _UNIT,
    "Me": _object(
        {
            "id": _ID,
            "full_name": {"type": "string"},
            "role": {"type": "string", "enum": [role.value for role in Role]},
            "unit": _ref("Unit"),
        }
    ),
    "Figures": _FIGURES,
    "Coverage": _object(
        {
            "commune": _ref("Unit"),
            "totals": _ref("Figures"),
            "hamlets": {"type": "array", "items": _ref("Figures")},
            "unreached": {"type": "array", "items": _ref("Household")},
            "alert_publication_id": {"type": ["integer", "null"]},
            "alerts": {"type": "array", "items": _ref("AlertRelay")},
        }
    ),
    "AlertRelay": _object(
        {
            "publication_id": _ID,
            "headline": {"type": "string"},
            "sent_at": _TIME,
            "confirmed": {"type": "integer"},
        }
    ),
    "GroupMember": _MEMBER,
    "Group": _GROUP,
    "GroupList": _object({"items": {"type": "array", "items": _ref("Group")}}),
    "LinkCode": _object(_CODE),
    "NewGroup": _object({"group": _ref("Group"), **_CODE}),
    "Household": _HOUSEHOLD,
    "HouseholdPage": _page("Household"),
    "ImportResult": _object(
        {
            "added": {"type": "integer"},
            "hamlets_added": {"type": "array", "items": {"type": "string"}},
            "refused": {
                "type": "array",
                "items": _object({"line": {"type": "integer"}, "reason": {"type": "string"}}),
            },
        }
    ),
    "TipSummary": _TIP_SUMMARY,
    "TipPage": _page("TipSummary"),
    "Message": _MESSAGE,
    "Tip": _TIP,
    "ReplyResult": _object({"reached": {"type": "boolean"}, "tip": _ref("Tip")}),
    "Board": _object(
        {
            "unit": _ref("Unit"),
            "since": _TIME,
            "communes": {"type": "array", "items": _BOARD_ROW},
        }
    ),
}

PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/me": {
        "get": {
            "operationId": "getMe",
            "summary": "The staff member the token belongs to.",
            "responses": _ok("Me", "Name, role and unit.") | _errors(),
        }
    },
    "/units/{id}/coverage": {
        "get": {
            "operationId": "getCoverage",
            "summary": "Which registered households of a commune the station reaches.",
            "parameters": [_path_id("id", "The commune's id.")],
            "responses": _ok(
                "Coverage",
                "Figures per hamlet and for the commune, and the households not reached.",
            )
            | _errors("404", "422"),
        }
    },
    "/communes/{id}/households": {
        "get": {
            "operationId": "listHouseholds",
            "summary": "The registered households of a commune, by hamlet.",
            "parameters": [
                _path_id("id", "The commune's id."),
                _query("hamlet", _ID, "Only this hamlet's households."),
                LIMIT,
                OFFSET,
            ],
            "responses": _ok("HouseholdPage", "A page of households.") | _errors("404", "422"),
        }
    },
    "/hamlets/{id}/households": {
        "post": {
            "operationId": "addHousehold",
            "summary": "Register one household in a hamlet.",
            "parameters": [_path_id("id", "The hamlet's id.")],
            "requestBody": HOUSEHOLD_BODY,
            "responses": _ok("Household", "The household registered.", "201")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/communes/{id}/households/import": {
        "post": {
            "operationId": "importHouseholds",
            "summary": "Import households from the station's CSV (UTF-8; Vietnamese or English "
            "headers). Good rows are kept, each bad row is named with its line.",
            "parameters": [
                _path_id("id", "The commune's id."),
                _query(
                    "create_hamlets",
                    {"type": "boolean", "default": False},
                    "Add the hamlets the file names.",
                ),
            ],
            "requestBody": CSV_BODY,
            "responses": _ok("ImportResult", "What was added and refused.")
            | _errors("404", "413", "415", "422"),
        }
    },
    "/communes/{id}/groups": {
        "get": {
            "operationId": "listGroups",
            "summary": "A commune's groups of households sharing one account.",
            "parameters": [_path_id("id", "The commune's id.")],
            "responses": _ok("GroupList", "The groups, with their households.")
            | _errors("404", "422"),
        },
        "post": {
            "operationId": "createGroup",
            "summary": "A group of the commune's households sharing one account, and its "
            "one-time link code (shown once) for the representative to send to the bot.",
            "parameters": [_path_id("id", "The commune's id.")],
            "requestBody": GROUP_BODY,
            "responses": _ok("NewGroup", "The group and its link code.", "201")
            | _errors("400", "404", "409", "413", "415", "422"),
        },
    },
    "/groups/{id}": {
        "get": {
            "operationId": "getGroup",
            "summary": "A group: its households, which agreed, whether its representative linked.",
            "parameters": [_path_id("id", "The group's id.")],
            "responses": _ok("Group", "The group.") | _errors("404"),
        }
    },
    "/groups/{id}/code": {
        "post": {
            "operationId": "newGroupCode",
            "summary": "A new link code for the group (a handover, or a lost code); earlier "
            "unused codes stop working.",
            "parameters": [_path_id("id", "The group's id.")],
            "requestBody": EMPTY_BODY,
            "responses": _ok("LinkCode", "The code, shown once.")
            | _errors("400", "404", "413", "415", "422"),
        }
    },
    "/groups/{id}/households": {
        "post": {
            "operationId": "addGroupHousehold",
            "summary": "Add a household of the commune; the representative then confirms it.",
            "parameters": [_path_id("id", "The group's id.")],
            "requestBody": MEMBER_BODY,
            "responses": _ok("Group", "The group now.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/groups/{id}/households/{household_id}": {
        "delete": {
            "operationId": "removeGroupHousehold",
            "summary": "Take a household out of the group.",
            "parameters": [
                _path_id("id", "The group's id."),
                _path_id("household_id", "The household's id."),
            ],
            "responses": _ok("Group", "The group now.") | _errors("404"),
        }
    },
    "/households/{id}/own-code": {
        "post": {
            "operationId": "householdOwnCode",
            "summary": "A one-time code for a household's own account: once linked, the "
            "household leaves its shared group.",
            "parameters": [_path_id("id", "The household's id.")],
            "requestBody": EMPTY_BODY,
            "responses": _ok("LinkCode", "The code, shown once.")
            | _errors("400", "404", "413", "415", "422"),
        }
    },
    "/tips": {
        "get": {
            "operationId": "listTips",
            "summary": "Tips in the token owner's scope, newest first.",
            "parameters": [
                _query(
                    "status",
                    {"type": "string", "enum": ["open", *(s.value for s in TipStatus)]},
                    "A status, or open for any open one.",
                ),
                _query(
                    "category",
                    {"type": "string", "enum": [c.value for c in TipCategory]},
                    "A category.",
                ),
                _query("unit", _ID, "Tips of this unit's subtree and those routed to it."),
                _query("overdue", {"type": "boolean"}, "Whether a deadline has passed."),
                LIMIT,
                OFFSET,
            ],
            "responses": _ok("TipPage", "A page of tips.") | _errors("404", "422"),
        }
    },
    "/tips/{reference}": {
        "get": {
            "operationId": "getTip",
            "summary": "A tip's card: the sender only as alias or agreed name, and its thread.",
            "parameters": [REFERENCE],
            "responses": _ok("Tip", "The tip.") | _errors("404"),
        }
    },
    "/tips/{reference}/acknowledge": {
        "post": {
            "operationId": "acknowledgeTip",
            "summary": "Acknowledge a new tip; the resident is told it was received.",
            "parameters": [REFERENCE],
            "requestBody": EMPTY_BODY,
            "responses": _ok("Tip", "The tip now.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/tips/{reference}/reply": {
        "post": {
            "operationId": "replyToTip",
            "summary": "Reply to the tip's sender, through the vault (they never see the "
            "officer's name).",
            "parameters": [REFERENCE],
            "requestBody": REPLY_BODY,
            "responses": _ok("ReplyResult", "Whether the sender could be reached, and the tip.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/tips/{reference}/resolve": {
        "post": {
            "operationId": "resolveTip",
            "summary": "Close the tip as handled; the resident is told the outcome.",
            "parameters": [REFERENCE],
            "requestBody": RESOLVE_BODY,
            "responses": _ok("Tip", "The tip now.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/board": {
        "get": {
            "operationId": "getBoard",
            "summary": "Response times per commune of a unit.",
            "parameters": [
                _query("unit", _ID, "The unit (default: the token owner's)."),
                _query(
                    "days",
                    {"type": "integer", "minimum": 1, "maximum": 366, "default": 30},
                    "Tips received in the last days.",
                ),
            ],
            "responses": _ok("Board", "The board.") | _errors("404", "422"),
        }
    },
}


def document() -> dict[str, Any]:
    """The whole document, a deep copy each time: changing it changes nothing here."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "communepol REST API",
                "version": "1",
                "description": "Tips, households, coverage and response times for police staff, "
                "with a personal API token (`communepol tokens create`). Every object outside the "
                "token owner's scope is 404, like one that does not exist. Errors are "
                '`{"error": "…"}` (with `field` on 422). Times are ISO 8601 in UTC.',
            },
            "servers": [{"url": PREFIX}],
            "security": [{"bearerAuth": []}],
            "paths": PATHS,
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A personal API token, cpol_…",
                    }
                },
            },
        }
    )


def operation(path: str, method: str) -> dict[str, Any]:
    """One operation of the document: its ``parameters`` and ``requestBody`` are what
    `communepol.web.api.io` checks requests against."""
    found: dict[str, Any] = PATHS[path][method]
    return found


def query_parameters(path: str, method: str) -> list[dict[str, Any]]:
    return [p for p in operation(path, method).get("parameters", []) if p["in"] == "query"]


def request_body(path: str, method: str) -> dict[str, Any] | None:
    body: dict[str, Any] | None = operation(path, method).get("requestBody")
    return body
