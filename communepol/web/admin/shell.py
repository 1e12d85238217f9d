"""What every admin page shares: the signed-in staff member of the request, the language, the
client's address, and `render`, which fills the layout's context (navigation, unit name, CSRF
token) and marks the response ``no-store``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from communepol import keys
from communepol.db.models import Role, Unit
from communepol.errors import CommunepolError
from communepol.i18n import N_, SUPPORTED_LOCALES
from communepol.services.auth import Auth, Current
from communepol.spreadsheet import csv_text

CURRENT = web.RequestKey("admin_current", Current)
LOGIN_NONCE = web.RequestKey("admin_login_nonce", str)

# (section, address, label): each screen adds its line; the layout translates the label.
NAVIGATION = (
    ("dashboard", "/admin/", N_("Dashboard")),
    ("board", "/admin/board", N_("Reply times")),
    ("tips", "/admin/tips", N_("Tips")),
    ("posts", "/admin/posts", N_("Posts")),
    ("alerts", "/admin/alerts", N_("Alerts")),
    ("approvals", "/admin/approvals", N_("Approvals")),
    ("coverage", "/admin/coverage", N_("Coverage")),
    ("households", "/admin/households", N_("Households")),
    ("groups", "/admin/groups", N_("Household groups")),
    ("staff", "/admin/staff", N_("Staff")),
    ("pages", "/admin/pages", N_("Pages")),
    ("queues", "/admin/queues", N_("Queues")),
    ("audit", "/admin/audit", N_("Audit log")),
)
# Sections whose every page is a supervisor's or an admin's: an officer is not shown them (the
# pages themselves refuse officers; this only keeps the menu to what they can use).
APPROVERS_ONLY = frozenset(("approvals", "queues", "audit"))


def navigation_for(current: Current | None) -> tuple[tuple[str, str, str], ...]:
    if current is None or not current.complete:
        return ()
    approver = current.staff.role in (Role.SUPERVISOR, Role.ADMIN)
    return tuple(entry for entry in NAVIGATION if approver or entry[0] not in APPROVERS_ONLY)


MAX_ID = 2**31 - 1  # ids are 32-bit columns: a larger number names nothing


def is_id(value: str | None) -> bool:
    """Whether ``value`` (a path segment, a query or form field) can be a row id: ASCII digits
    naming a 32-bit id. Anything else would otherwise reach the database (PostgreSQL refuses
    an int4 out of range with an error, not "no row")."""
    text = (value or "").strip()
    return text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= MAX_ID


def auth_of(request: web.Request) -> Auth:
    return request.config_dict[keys.AUTH]


def current_of(request: web.Request) -> Current:
    """The signed-in staff member; the admin middleware lets no request without one reach a
    view that asks."""
    current = request.get(CURRENT)
    if current is None:
        raise web.HTTPSeeOther("/admin/login")
    return current


def locale_of(request: web.Request) -> str:
    """``?lang=``, then the ``lang`` cookie (the language switch), then the staff member's
    stored language, then the default."""
    i18n = request.config_dict[keys.I18N]
    chosen = request.query.get("lang") or request.cookies.get("lang")
    if chosen:
        return i18n.normalize_locale(chosen)
    current = request.get(CURRENT)
    if current is not None and current.staff.locale in SUPPORTED_LOCALES:
        return current.staff.locale
    return request.config_dict[keys.SETTINGS].default_locale


def translate(request: web.Request, message: str, **params: Any) -> str:
    return request.config_dict[keys.I18N].gettext(locale_of(request), message, **params)


def csv_download(rows: list[list[str]], filename: str) -> web.Response:
    """``rows`` as a CSV attachment for spreadsheets (formula-safe: `spreadsheet.csv_text`),
    with a byte-order mark so that they read it as UTF-8."""
    body = ("\ufeff" + csv_text(rows)).encode("utf-8")
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def error_text(request: web.Request, err: CommunepolError) -> str:
    """A refusal from a service, in the reader's language."""
    return request.config_dict[keys.I18N].error_text(locale_of(request), err)


def client_ip(request: web.Request) -> str | None:
    """The client's address. ``X-Forwarded-For`` is read only when the peer is one of
    ``COMMUNEPOL_TRUSTED_PROXIES``, from the right, skipping the trusted proxies themselves;
    otherwise anyone could pick the address their failed logins are counted against."""
    peer = request.remote
    trusted = set(request.config_dict[keys.SETTINGS].trusted_proxies)
    if peer is None or _canonical(peer) not in trusted:
        return peer
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed(hops):
        address = _canonical(hop)
        if address is None:
            break  # a malformed entry: believe nothing further to the left
        if address not in trusted:
            return address
    return peer


def _canonical(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


async def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    """The page ``template`` in the reader's language, inside the admin layout."""
    settings = request.config_dict[keys.SETTINGS]
    i18n = request.config_dict[keys.I18N]
    locale = locale_of(request)
    full: dict[str, Any] = dict(i18n.template_globals(locale, settings.tz))
    full["locale"] = locale
    full["path"] = request.path
    current = request.get(CURRENT)
    full["current"] = current
    full["navigation"] = navigation_for(current)
    if current is not None:
        unit = await Unit.get(id=current.staff.unit_id)
        full["unit_name"] = unit.name
        full["csrf"] = auth_of(request).csrf_token(current.session)
    else:
        full["unit_name"] = ""
        nonce = request.get(LOGIN_NONCE)
        full["csrf"] = auth_of(request).login_csrf_token(nonce) if nonce else ""
    full.update(context)
    return aiohttp_jinja2.render_template(template, request, full, status=status)
