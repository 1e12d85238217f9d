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

from bots.officer.post import PRESETS
from communepol.db.models import (
    AlertMessageType,
    AlertStatus,
    DeliveryStatus,
    PostCategory,
    PostStatus,
    PublicationStatus,
    Role,
    ScheduleKind,
    TipCategory,
    TipMessageDirection,
    TipStatus,
    UnitLevel,
    Urgency,
)
from communepol.i18n import SUPPORTED_LOCALES
from communepol.services import alerts, posts
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
        "403": "The token owner may see this but not do it (an officer approving, the issuer "
        "or author approving their own).",
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
# Posts: times are ISO 8601 with their offset (Vietnam time is +07:00); one without an offset is
# refused rather than guessed.
_LOCAL_TIME = {
    "type": "string",
    "format": "date-time",
    "maxLength": 40,
    "description": "ISO 8601 with an offset, e.g. 2026-03-02T07:00:00+07:00.",
}
_LOCAL_TIME_OR_NULL = _LOCAL_TIME | {"type": ["string", "null"]}
_TRANSLATION = _object(
    {
        "locale": {"type": "string", "enum": list(SUPPORTED_LOCALES)},
        "title": {"type": "string", "minLength": 1, "maxLength": posts.TITLE_MAX},
        "body": {"type": "string", "minLength": 1, "maxLength": posts.BODY_MAX},
    }
)
_TRANSLATIONS = {
    "type": "array",
    "items": _TRANSLATION | {"additionalProperties": False},
    "minItems": 1,
    "maxItems": len(SUPPORTED_LOCALES),
    "description": "One text per language; Vietnamese is the page's own.",
}
_SCHEDULE_IN = _object(
    {
        "kind": {"type": "string", "enum": [kind.value for kind in ScheduleKind]},
        "at": _LOCAL_TIME,
        "preset": {"type": "string", "enum": list(PRESETS)},
        "cron": {"type": "string", "pattern": r"^[0-9A-Za-z*/,\- ]{1,100}$"},
    },
    optional=("at", "preset", "cron"),
) | {
    "additionalProperties": False,
    "description": "now (at the next tick); once (at, required); cron: a preset "
    + ", ".join(f"{key} ({expression})" for key, (expression, _label) in PRESETS.items())
    + " or five cron fields, in Vietnam time.",
}
_POST_FIELDS: dict[str, Any] = {
    "category": {"type": "string", "enum": [c.value for c in PostCategory]},
    "translations": _TRANSLATIONS,
    "schedule": _SCHEDULE_IN,
    "expires_at": _LOCAL_TIME_OR_NULL,
    "must_reach_every_household": {"type": "boolean"},
}
POST_BODY = _body(
    {"page_id": _ID, **_POST_FIELDS},
    optional=("schedule", "expires_at", "must_reach_every_household"),
)
POST_PATCH_BODY = _body(
    {
        "version": {
            "type": "integer",
            "minimum": 1,
            "maximum": 2**31 - 1,
            "description": "The version read; if the post changed since, 409.",
        },
        **_POST_FIELDS,
    },
    optional=tuple(_POST_FIELDS),
)
REASON_BODY = _body({"reason": {"type": "string", "minLength": 1, "maxLength": 500}})
STOP_BODY = _body({"publication_id": _ID})
_ALERT_TEXT: dict[str, Any] = {
    "headline": {"type": "string", "minLength": 1, "maxLength": alerts.HEADLINE_MAX},
    "description": {"type": "string", "maxLength": alerts.TEXT_MAX},
    "instruction": {"type": "string", "maxLength": alerts.TEXT_MAX},
    "subject_name": {"type": ["string", "null"], "maxLength": 200},
    "subject_description": {"type": ["string", "null"], "maxLength": alerts.TEXT_MAX},
    "last_seen_place": {"type": ["string", "null"], "maxLength": 300},
    "last_seen_at": _LOCAL_TIME_OR_NULL,
    "contact_phone": {"type": ["string", "null"], "maxLength": 20},
    "expires_at": _LOCAL_TIME_OR_NULL,
}
_ALERT_OPTIONAL = tuple(name for name in _ALERT_TEXT if name != "headline")
ALERT_BODY = _body(
    {
        "category": {"type": "string", "enum": [c.value for c in alerts.CATEGORIES]},
        **_ALERT_TEXT,
        "pages": {"type": "array", "items": _ID, "maxItems": 200, "description": "Page ids."},
        "units": {
            "type": "array",
            "items": _ID,
            "maxItems": 200,
            "description": "Unit ids: every page of the unit and below it.",
        },
    },
    optional=(*_ALERT_OPTIONAL, "pages", "units"),
)
ALERT_UPDATE_BODY = _body(_ALERT_TEXT, optional=_ALERT_OPTIONAL)
CANCEL_BODY = _body({"note": {"type": "string", "maxLength": alerts.TEXT_MAX}}, optional=("note",))
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


_SCHEDULE = _object(
    {
        "kind": {"type": "string", "enum": [kind.value for kind in ScheduleKind]},
        "at": _TIME_OR_NULL,
        "cron": _STR_OR_NULL,
    }
)
_POST_SUMMARY = _object(
    {
        "id": _ID,
        "page": _ref("PageRef"),
        "category": {"type": "string", "enum": [c.value for c in PostCategory]},
        "status": {"type": "string", "enum": [s.value for s in PostStatus]},
        "title": {"type": "string"},
        "schedule": _ref("Schedule"),
        "next_run_at": _TIME_OR_NULL,
        "published_at": _TIME_OR_NULL,
    }
)
_PUBLICATION = _object(
    {
        "id": _ID,
        "status": {"type": "string", "enum": [s.value for s in PublicationStatus]},
        "occurrence_at": _TIME,
        "recipients": {"type": "integer"},
        "deliveries": _object({s.value: {"type": "integer"} for s in DeliveryStatus}),
        "read": {"type": "integer"},
    }
)
_POST = {
    "allOf": [
        _ref("PostSummary"),
        _object(
            {
                "version": {"type": "integer"},
                "translations": {"type": "array", "items": _TRANSLATION},
                "expires_at": _TIME_OR_NULL,
                "must_reach_every_household": {"type": "boolean"},
                "author": _STR_OR_NULL,
                "approval": _object(
                    {
                        "approved_by": _STR_OR_NULL,
                        "approved_at": _TIME_OR_NULL,
                    }
                ),
                "alert_id": {"type": ["integer", "null"]},
                "attachments": {
                    "type": "array",
                    "items": _object(
                        {
                            "id": _ID,
                            "filename": {"type": "string"},
                            "content_type": {"type": "string"},
                            "size_bytes": {"type": "integer"},
                        }
                    ),
                },
                "editable": {"type": "boolean"},
                "cancellable": {"type": "boolean"},
                "publications": {"type": "array", "items": _ref("Publication")},
                "created_at": _TIME,
                "updated_at": _TIME,
            }
        ),
    ]
}
_ALERT = _object(
    {
        "id": _ID,
        "identifier": {"type": "string"},
        "msg_type": {"type": "string", "enum": [t.value for t in AlertMessageType]},
        "status": {"type": "string", "enum": [s.value for s in AlertStatus]},
        "category": {"type": "string"},
        "headline": {"type": "string"},
        "description": {"type": "string"},
        "instruction": {"type": "string"},
        "subject_name": _STR_OR_NULL,
        "subject_description": _STR_OR_NULL,
        "last_seen_place": _STR_OR_NULL,
        "last_seen_at": _TIME_OR_NULL,
        "contact_phone": _STR_OR_NULL,
        "has_photo": {"type": "boolean"},
        "created_by": _STR_OR_NULL,
        "approved_by": _STR_OR_NULL,
        "approved_at": _TIME_OR_NULL,
        "sent_at": _TIME_OR_NULL,
        "expires_at": _TIME_OR_NULL,
        "created_at": _TIME,
        "cap_url": {"type": "string"},
    }
)
_ALERT_DETAILS = {
    "allOf": [
        _ref("Alert"),
        _object(
            {
                "two_person": {"type": "boolean"},
                "pages": {"type": "array", "items": _ref("PageRef")},
                "messages": {
                    "type": "array",
                    "items": {
                        "allOf": [
                            _ref("Alert"),
                            _object({"recipients": {"type": "integer"}}),
                        ]
                    },
                },
            }
        ),
    ]
}
_BAR = _object({"name": {"type": "string"}, "value": {"type": "number"}})
_DASHBOARD = _object(
    {
        "unit": _ref("Unit"),
        "since": _TIME,
        "open_tips": {"type": "integer"},
        "overdue_tips": {"type": "integer"},
        "received": {"type": "integer"},
        "answered": {"type": "integer"},
        "median_first_response_minutes": {"type": ["number", "null"]},
        "median_resolution_minutes": {"type": ["number", "null"]},
        "first_response_by_commune": {"type": "array", "items": _BAR},
        "overdue_by_commune": {"type": "array", "items": _BAR},
        "followers": {"type": "integer"},
        "followers_gained": {"type": "integer"},
        "followers_lost": {"type": "integer"},
        "published": {"type": "integer"},
        "coverage": _ref("Figures"),
        "communes_with_households": {"type": "integer"},
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
    "PageRef": _object({"id": _ID, "title": {"type": "string"}}),
    "Schedule": _SCHEDULE,
    "PostSummary": _POST_SUMMARY,
    "PostPage": _page("PostSummary"),
    "Publication": _PUBLICATION,
    "Post": _POST,
    "StopResult": _object({"stopped": {"type": "integer"}, "post": _ref("Post")}),
    "Approvals": _object(
        {
            "approver": {"type": "boolean"},
            "posts": {"type": "array", "items": _ref("PostSummary")},
            "alerts": {"type": "array", "items": _ref("Alert")},
        }
    ),
    "Alert": _ALERT,
    "AlertList": _object({"items": {"type": "array", "items": _ref("Alert")}}),
    "AlertDetails": _ALERT_DETAILS,
    "Dashboard": _DASHBOARD,
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
    "/posts": {
        "get": {
            "operationId": "listPosts",
            "summary": "Posts (not alerts' posts) on the pages in the token owner's scope, newest "
            "first.",
            "parameters": [
                _query("page", _ID, "Only this page's posts."),
                _query(
                    "status", {"type": "string", "enum": [s.value for s in PostStatus]}, "A status."
                ),
                LIMIT,
                OFFSET,
            ],
            "responses": _ok("PostPage", "A page of posts.") | _errors("404", "422"),
        },
        "post": {
            "operationId": "createPost",
            "summary": "A draft on a page in scope: its category, texts, schedule and expiry. "
            "Submit it to send it on its way.",
            "requestBody": POST_BODY,
            "responses": _ok("Post", "The draft.", "201")
            | _errors("400", "404", "413", "415", "422"),
        },
    },
    "/posts/{id}": {
        "get": {
            "operationId": "getPost",
            "summary": "A post: texts, schedule, approval and each publication's delivery figures.",
            "parameters": [_path_id("id", "The post's id.")],
            "responses": _ok("Post", "The post.") | _errors("404", "422"),
        },
        "patch": {
            "operationId": "editPost",
            "summary": "Change a post that is not published yet, at the version read; fields left "
            "out keep their value. An approved post goes back for approval.",
            "parameters": [_path_id("id", "The post's id.")],
            "requestBody": POST_PATCH_BODY,
            "responses": _ok("Post", "The post now.")
            | _errors("400", "404", "409", "413", "415", "422"),
        },
    },
    "/posts/{id}/submit": {
        "post": {
            "operationId": "submitPost",
            "summary": "Send a draft on its way: to the approval queue when its page requires "
            "approval for its category, else to the schedule.",
            "parameters": [_path_id("id", "The post's id.")],
            "requestBody": EMPTY_BODY,
            "responses": _ok("Post", "The post now.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/posts/{id}/approve": {
        "post": {
            "operationId": "approvePost",
            "summary": "A supervisor or admin (not the author) approves a post waiting for "
            "approval: it is scheduled.",
            "parameters": [_path_id("id", "The post's id.")],
            "requestBody": EMPTY_BODY,
            "responses": _ok("Post", "The post now.")
            | _errors("400", "403", "404", "409", "413", "415", "422"),
        }
    },
    "/posts/{id}/reject": {
        "post": {
            "operationId": "rejectPost",
            "summary": "A supervisor or admin sends a post waiting for approval back to its "
            "author as a draft, with the reason.",
            "parameters": [_path_id("id", "The post's id.")],
            "requestBody": REASON_BODY,
            "responses": _ok("Post", "The post now.")
            | _errors("400", "403", "404", "409", "413", "415", "422"),
        }
    },
    "/posts/{id}/stop": {
        "post": {
            "operationId": "stopPost",
            "summary": "Stop one of the post's publications mid-way: what is not sent yet is "
            "cancelled.",
            "parameters": [_path_id("id", "The post's id.")],
            "requestBody": STOP_BODY,
            "responses": _ok("StopResult", "How many deliveries were cancelled, and the post.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/approvals": {
        "get": {
            "operationId": "listApprovals",
            "summary": "The posts and alerts waiting for the token owner's approval, oldest "
            "first (none for an officer).",
            "responses": _ok("Approvals", "What waits.") | _errors("422"),
        }
    },
    "/alerts": {
        "get": {
            "operationId": "listAlerts",
            "summary": "The latest alerts whose every target is in the token owner's scope, "
            "newest first.",
            "responses": _ok("AlertList", "The alerts.") | _errors("422"),
        },
        "post": {
            "operationId": "issueAlert",
            "summary": "Issue an alert to pages and unit subtrees in scope: out at once for one "
            "commune, waiting for a second person (a supervisor or admin) for several. A photo "
            "is added in the admin web.",
            "requestBody": ALERT_BODY,
            "responses": _ok("Alert", "The alert.", "201")
            | _errors("400", "404", "413", "415", "422"),
        },
    },
    "/alerts/{id}": {
        "get": {
            "operationId": "getAlert",
            "summary": "An alert, its pages and every message of it (the alert, its updates, its "
            "end) with its recipients.",
            "parameters": [_path_id("id", "The id of any message of the alert.")],
            "responses": _ok("AlertDetails", "The alert.") | _errors("404", "422"),
        }
    },
    "/alerts/{id}/approve": {
        "post": {
            "operationId": "approveAlert",
            "summary": "The second person (a supervisor or admin, not the issuer) approves an "
            "alert waiting for them: it goes out.",
            "parameters": [_path_id("id", "The alert's id.")],
            "requestBody": EMPTY_BODY,
            "responses": _ok("Alert", "The alert now.")
            | _errors("400", "403", "404", "409", "413", "415", "422"),
        }
    },
    "/alerts/{id}/reject": {
        "post": {
            "operationId": "rejectAlert",
            "summary": "The second person refuses an alert waiting for them: it never goes out, "
            "and the issuer is told why.",
            "parameters": [_path_id("id", "The alert's id.")],
            "requestBody": REASON_BODY,
            "responses": _ok("Alert", "The alert now.")
            | _errors("400", "403", "404", "409", "413", "415", "422"),
        }
    },
    "/alerts/{id}/update": {
        "post": {
            "operationId": "updateAlert",
            "summary": "A new text for an alert that is out, to exactly its recipients.",
            "parameters": [_path_id("id", "The alert's id.")],
            "requestBody": ALERT_UPDATE_BODY,
            "responses": _ok("Alert", "The update message.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/alerts/{id}/cancel": {
        "post": {
            "operationId": "cancelAlert",
            "summary": "End an alert (found, no longer needed): an end message to exactly its "
            "recipients; what is still queued of it is withdrawn.",
            "parameters": [_path_id("id", "The alert's id.")],
            "requestBody": CANCEL_BODY,
            "responses": _ok("Alert", "The end message.")
            | _errors("400", "404", "409", "413", "415", "422"),
        }
    },
    "/units/{id}/dashboard": {
        "get": {
            "operationId": "getDashboard",
            "summary": "The admin web's dashboard figures of a unit in scope (the last 30 days).",
            "parameters": [_path_id("id", "The unit's id.")],
            "responses": _ok("Dashboard", "The figures.") | _errors("404", "422"),
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
                "description": "Tips, households, coverage, response times, posts, alerts and "
                "the unit dashboard for police staff, with a personal API token (`communepol "
                "tokens create`). Every object outside the token owner's scope is 404, like one "
                'that does not exist. Errors are `{"error": "…"}` (with `field` on 422). Times '
                "are answered in ISO 8601 in UTC; times sent (a post's schedule, an alert's "
                "last seen) carry their offset, e.g. +07:00 for Vietnam time. Attachments of "
                "posts and photos of alerts are added in the admin web, not through this API.",
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
