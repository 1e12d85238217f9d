"""JSON in and out for the REST API, checked strictly against the OpenAPI document.

Request bodies and query strings are checked against the schemas of the operation in
`communepol.web.api.openapi` — the document clients read is the one the server enforces. The
checker understands the part of JSON Schema the document uses (object with ``properties``,
``required`` and ``additionalProperties: false``; string, integer, boolean; lengths, bounds,
``enum``, ``pattern``). An unknown field is refused, never ignored (mass assignment), a wrong
type or a number out of range is a `ValidationError` naming the field (422), malformed JSON is
400, and nothing a client sends reaches a service unchecked.

Responses are JSON (orjson), times ISO 8601 in UTC with a ``Z``, and every response says
``Cache-Control: no-store``: they carry residents' data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from communepol.errors import NotFound, ValidationError

JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store"}
MAX_ID = 2**31 - 1  # ids are 32-bit columns: a larger number names nothing


def iso(moment: datetime | None) -> str | None:
    """``2026-03-02T02:30:00Z``: ISO 8601, in UTC."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None, field: str) -> datetime | None:
    """A time a client sent: ISO 8601 with its offset (``2026-03-02T07:00:00+07:00``), as UTC.
    A time without an offset is refused, never guessed; None stays None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("no offset")
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as err:  # OverflowError: year 1 or 9999 moved to UTC
        raise ValidationError(
            f"{field} must be an ISO 8601 time with its offset, e.g. 2026-03-02T07:00:00+07:00",
            field=field,
        ) from err


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=NO_STORE)


def error_body(message: str, field: str | None = None) -> bytes:
    return orjson.dumps({"error": message} | ({"field": field} if field else {}))


def http_error(cls: type[web.HTTPException], message: str, **kwargs: Any) -> web.HTTPException:
    """An HTTP error with the API's JSON body (``{"error": …}``)."""
    headers = {**NO_STORE, **kwargs.pop("headers", {})}
    return cls(text=error_body(message).decode(), content_type=JSON, headers=headers, **kwargs)


def path_id(request: web.Request, name: str = "id") -> int:
    """An id from the path; anything that cannot be an id names nothing (404)."""
    text = request.match_info.get(name, "")
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or not 0 < int(text) <= MAX_ID:
        raise NotFound("not found")
    return int(text)


# --- the schema checker ----------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check(value: Any, schema: Mapping[str, Any], field: str) -> None:
    """`ValidationError` (naming ``field``) unless ``value`` fits ``schema``."""
    allowed = schema.get("type")
    types = [allowed] if isinstance(allowed, str) else list(allowed or [])
    kind = _type_name(value)
    if types and kind not in types:
        raise ValidationError(f"{field} must be {' or '.join(types)}", field=field)
    if "enum" in schema and value not in schema["enum"]:
        raise ValidationError(f"{field} must be one of {', '.join(schema['enum'])}", field=field)
    if kind == "string":
        if len(value) < schema.get("minLength", 0):
            raise ValidationError(f"{field} is too short", field=field)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValidationError(f"{field} is too long", field=field)
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise ValidationError(f"{field} has the wrong form", field=field)
    if kind == "integer":
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(f"{field} must be at least {schema['minimum']}", field=field)
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(f"{field} must be at most {schema['maximum']}", field=field)
    if kind == "array":
        if len(value) < schema.get("minItems", 0):
            raise ValidationError(f"{field} needs at least {schema['minItems']}", field=field)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise ValidationError(f"{field} takes at most {schema['maxItems']}", field=field)
        for item in value:
            check(item, schema.get("items", {}), field)
    if kind == "object":
        properties: Mapping[str, Any] = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(properties))
            if unknown:
                raise ValidationError(f"unknown field {unknown[0]}", field=unknown[0])
        for name in schema.get("required", ()):
            if name not in value:
                raise ValidationError(f"{name} is required", field=name)
        for name, item in value.items():
            if name in properties:
                check(item, properties[name], name)


async def read_json(request: web.Request, body: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request's JSON object, checked against the operation's ``requestBody``. An
    operation without a body takes none (or ``{}``); a body that may be left out is ``{}``."""
    raw = await request.read()  # over the app's client_max_size: 413
    if not raw.strip():
        if body is not None and body.get("required"):
            raise ValidationError("a JSON body is required", field="body")
        return {}
    if request.content_type != JSON:
        raise http_error(web.HTTPUnsupportedMediaType, "send application/json")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise http_error(web.HTTPBadRequest, "the body is not valid JSON") from err
    schema: Mapping[str, Any] = (
        body["content"][JSON]["schema"]
        if body is not None
        else {"type": "object", "additionalProperties": False}
    )
    check(value, schema, "body")
    return dict(value)


def _from_text(text: str, schema: Mapping[str, Any], name: str) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        if not re.fullmatch(r"-?[0-9]{1,18}", text):
            raise ValidationError(f"{name} must be a whole number", field=name)
        return int(text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValidationError(f"{name} must be true or false", field=name)
        return text == "true"
    return text


def read_query(request: web.Request, parameters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The query string, checked against the operation's query parameters: an unknown or
    repeated parameter is refused; defaults fill what is left out."""
    known = {p["name"]: p for p in parameters if p["in"] == "query"}
    result: dict[str, Any] = {}
    for name in request.query:
        if name not in known:
            raise ValidationError(f"unknown parameter {name}", field=name)
        values = request.query.getall(name)
        if len(values) > 1:
            raise ValidationError(f"{name} is given more than once", field=name)
        schema = known[name]["schema"]
        value = _from_text(values[0], schema, name)
        check(value, schema, name)
        result[name] = value
    for name, parameter in known.items():
        if name not in result:
            if parameter.get("required"):
                raise ValidationError(f"{name} is required", field=name)
            result[name] = parameter["schema"].get("default")
    return result
