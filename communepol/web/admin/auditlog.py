"""The audit log screen (/admin/audit, supervisors and admins): the trail of the units in
scope, filtered by action, actor and a date range (the reader's dates, Asia/Ho_Chi_Minh),
50 a page, newest first; and its CSV export (a POST with the form's CSRF token: exporting is
itself recorded), every cell safe against formula injection (`communepol.spreadsheet`)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from communepol import keys
from communepol.errors import ValidationError
from communepol.i18n import _
from communepol.services import audit
from communepol.web.admin.shell import client_ip, csv_download, current_of, error_text, render


def _value(values: MultiMapping[Any], name: str) -> str:
    value = values.get(name)
    return value.strip()[: audit.FILTER_MAX] if isinstance(value, str) else ""


def _date(values: MultiMapping[Any], name: str) -> date | None:
    text = _value(values, name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_("Dates are written YYYY-MM-DD."), field=name) from None


def _query(values: MultiMapping[Any]) -> audit.AuditQuery:
    return audit.AuditQuery(
        action=_value(values, "action"),
        actor=_value(values, "actor"),
        since=_date(values, "since"),
        until=_date(values, "until"),
    )


def _page_number(values: MultiMapping[Any]) -> int:
    text = _value(values, "page")
    return int(text) if text.isdigit() and len(text) < 7 else 1


async def audit_page(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    zone = request.config_dict[keys.SETTINGS].tz
    error = None
    try:
        query = _query(request.query)
    except ValidationError as err:
        error = error_text(request, err)
        query = audit.AuditQuery(
            action=_value(request.query, "action"), actor=_value(request.query, "actor")
        )
    found = await audit.events_in_scope(staff, query, zone=zone, page=_page_number(request.query))
    filters = {
        "action": query.action,
        "actor": query.actor,
        "since": query.since.isoformat() if query.since else "",
        "until": query.until.isoformat() if query.until else "",
    }
    kept = urlencode({k: v for k, v in filters.items() if v})
    return await render(
        request,
        "admin/auditlog.html",
        {"found": found, "filters": filters, "kept": kept, "error": error},
        status=400 if error else 200,
    )


async def audit_export(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    form = await request.post()
    rows = await audit.export_in_scope(
        staff,
        _query(form),
        zone=request.config_dict[keys.SETTINGS].tz,
        ip=client_ip(request),
    )
    return csv_download(rows, "audit.csv")


def setup_auditlog_routes(admin: web.Application) -> None:
    admin.router.add_get("/audit", audit_page, name="admin-audit")
    admin.router.add_post("/audit/export", audit_export, name="admin-audit-export")
