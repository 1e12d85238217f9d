"""Alerts through the API: the latest in scope (``GET /api/v1/alerts``), one with its pages and
messages (``GET /api/v1/alerts/{id}``), issuing one (``POST /api/v1/alerts``: category, texts,
pages and units), the second person's ``…/approve`` and ``…/reject`` (``{"reason"}``), a new
text (``…/update``) and the end (``…/cancel``, ``{"note"}``).

Each handler parses, calls what the admin web calls (`officers.issue_alert`, `Alerts.approve`,
`reject`, `update`, `cancel`, `postboard.recent_alerts`, `alert_details`) and renders; the
two-person rule, the roles and the scope are theirs (the issuer approving is 403, as in the
web; another commune's alert is 404). The photo of an alert is added in the admin web only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from communepol import keys
from communepol.db.models import Alert
from communepol.services import alerts, officers, postboard
from communepol.services.alerts import AlertInput, Alerts
from communepol.settings import Settings
from communepol.web.api import openapi
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import iso, json_response, parse_time, path_id, read_json, read_query

SOURCE = "api"


def _settings(request: web.Request) -> Settings:
    return request.config_dict[keys.SETTINGS]


def _service(request: web.Request) -> Alerts:
    return Alerts(request.config_dict[keys.SETTINGS], request.config_dict[keys.I18N])


async def with_people(found: list[Alert]) -> list[Alert]:
    """The alerts with who issued and approved them loaded (one query per relation)."""
    if found:
        await Alert.fetch_for_list(found, "created_by", "approved_by")
    return found


def alert_json(alert: Alert, settings: Settings) -> dict[str, Any]:
    """One message of an alert (its issuer and approver loaded)."""
    return {
        "id": alert.id,
        "identifier": alert.identifier,
        "msg_type": alert.msg_type.value,
        "status": alert.status.value,
        "category": alert.category,
        "headline": alert.headline,
        "description": alert.description,
        "instruction": alert.instruction,
        "subject_name": alert.subject_name,
        "subject_description": alert.subject_description,
        "last_seen_place": alert.last_seen_place,
        "last_seen_at": iso(alert.last_seen_at),
        "contact_phone": alert.contact_phone,
        "has_photo": alert.photo_path is not None,
        "created_by": alert.created_by.full_name if alert.created_by else None,
        "approved_by": alert.approved_by.full_name if alert.approved_by else None,
        "approved_at": iso(alert.approved_at),
        "sent_at": iso(alert.sent_at),
        "expires_at": iso(alert.expires_at),
        "created_at": iso(alert.created_at),
        "cap_url": f"{settings.public_base_url}/a/{alert.identifier}/cap.xml",
    }


async def _one(request: web.Request, alert: Alert) -> dict[str, Any]:
    [loaded] = await with_people([alert])
    return alert_json(loaded, _settings(request))


def _input(body: dict[str, Any], category: str, **targets: list[int]) -> AlertInput:
    return AlertInput(
        category=category,
        headline=body["headline"],
        description=body.get("description") or "",
        instruction=body.get("instruction") or "",
        subject_name=body.get("subject_name"),
        subject_description=body.get("subject_description"),
        last_seen_place=body.get("last_seen_place"),
        last_seen_at=parse_time(body.get("last_seen_at"), "last_seen_at"),
        contact_phone=body.get("contact_phone") or None,
        expires_at=parse_time(body.get("expires_at"), "expires_at"),
        pages=targets.get("pages", []),
        units=targets.get("units", []),
    )


@authenticated
async def list_alerts(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    found = await with_people(await postboard.recent_alerts(staff_of(request)))
    settings = _settings(request)
    return json_response({"items": [alert_json(alert, settings) for alert in found]})


@authenticated
async def issue_alert(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/alerts", "post"))
    data = _input(body, body["category"], pages=body.get("pages", []), units=body.get("units", []))
    alert = await officers.issue_alert(staff_of(request), data, _service(request), source=SOURCE)
    return json_response(await _one(request, alert), status=201)


@authenticated
async def get_alert(request: web.Request) -> web.StreamResponse:
    alert_id = path_id(request)
    read_query(request, [])
    details = await postboard.alert_details(staff_of(request), alert_id)
    settings = _settings(request)
    messages = await with_people([message.alert for message in details.messages])
    counts = [message.recipients for message in details.messages]
    return json_response(
        alert_json(messages[0], settings)
        | {
            "two_person": details.two_person,
            "pages": [{"id": page.id, "title": page.title} for page in details.pages],
            "messages": [
                alert_json(message, settings) | {"recipients": count}
                for message, count in zip(messages, counts, strict=True)
            ],
        }
    )


@authenticated
async def approve_alert(request: web.Request) -> web.StreamResponse:
    alert_id = path_id(request)
    read_query(request, [])
    await read_json(request, openapi.request_body("/alerts/{id}/approve", "post"))
    alert = await _service(request).approve(staff_of(request), alert_id, source=SOURCE)
    return json_response(await _one(request, alert))


@authenticated
async def reject_alert(request: web.Request) -> web.StreamResponse:
    alert_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/alerts/{id}/reject", "post"))
    alert = await _service(request).reject(
        staff_of(request), alert_id, body["reason"], source=SOURCE
    )
    return json_response(await _one(request, alert))


@authenticated
async def update_alert(request: web.Request) -> web.StreamResponse:
    alert_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/alerts/{id}/update", "post"))
    staff = staff_of(request)
    # The update keeps the alert's category, as the web's form does (a hidden field).
    shown = await alerts.get_alert(staff, alert_id)
    message = await _service(request).update(
        staff, alert_id, _input(body, shown.category), source=SOURCE
    )
    return json_response(await _one(request, message))


@authenticated
async def cancel_alert(request: web.Request) -> web.StreamResponse:
    alert_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/alerts/{id}/cancel", "post"))
    message = await _service(request).cancel(
        staff_of(request), alert_id, body.get("note", ""), source=SOURCE
    )
    return json_response(await _one(request, message))


ROUTES = [
    ("GET", "/alerts", list_alerts),
    ("POST", "/alerts", issue_alert),
    ("GET", "/alerts/{id}", get_alert),
    ("POST", "/alerts/{id}/approve", approve_alert),
    ("POST", "/alerts/{id}/reject", reject_alert),
    ("POST", "/alerts/{id}/update", update_alert),
    ("POST", "/alerts/{id}/cancel", cancel_alert),
]
