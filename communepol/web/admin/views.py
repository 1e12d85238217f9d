"""The admin screens: the dashboard, a commune's coverage and its households. Each parses the
request, calls one service with the signed-in staff member (the services keep to their
scope), and renders."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from communepol.errors import CommunepolError, NotFound, ValidationError
from communepol.i18n import _
from communepol.services import households, overview
from communepol.web.admin.auth import redirect
from communepol.web.admin.shell import current_of, error_text, is_id, render

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def _commune_id(request: web.Request) -> int | None:
    value = request.query.get("commune", "").strip()
    if not value:
        return None
    if not is_id(value):
        raise NotFound("not found")
    return int(value)


async def dashboard(request: web.Request) -> web.StreamResponse:
    figures = await overview.dashboard(current_of(request).staff)
    return await render(request, "admin/dashboard.html", {"figures": figures})


async def coverage(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    commune = await overview.commune_for(staff, _commune_id(request))
    if commune is None:
        communes = await overview.communes_for(staff)
        return await render(
            request, "admin/pick_commune.html", {"communes": communes, "screen": "coverage"}
        )
    figures = await overview.commune_coverage(staff, commune.id)
    return await render(request, "admin/coverage.html", {"commune": commune, "figures": figures})


async def _households_page(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    added: str | None = None,
    result: households.ImportResult | None = None,
    form: MultiDictProxy[Any] | None = None,
) -> web.StreamResponse:
    staff = current_of(request).staff
    commune = await overview.commune_for(staff, _commune_id(request))
    if commune is None:
        communes = await overview.communes_for(staff)
        return await render(
            request, "admin/pick_commune.html", {"communes": communes, "screen": "households"}
        )
    rows = await households.list_households(staff, commune.id)
    hamlets = await overview.hamlets_of(staff, commune.id)
    by_hamlet: dict[int, list[Any]] = {hamlet.id: [] for hamlet in hamlets}
    for household in rows:
        by_hamlet.setdefault(household.hamlet_id, []).append(household)  # type: ignore[attr-defined]
    return await render(
        request,
        "admin/households.html",
        {
            "commune": commune,
            "hamlets": hamlets,
            "by_hamlet": by_hamlet,
            "total": len(rows),
            "error": error,
            "added": added,
            "result": result,
            "form": form or {},
        },
        status=status,
    )


async def households_page(request: web.Request) -> web.StreamResponse:
    return await _households_page(request, added=request.query.get("added"))


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def add_household(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    form = await request.post()
    hamlet = _text(form, "hamlet")
    members = _text(form, "members").strip()
    try:
        if not hamlet.isdigit():
            raise ValidationError(_("Choose a hamlet."), field="hamlet")
        if not members.isdigit() or len(members) > 3:
            raise ValidationError(
                _("Members must be a whole number from 1 to 50."), field="members"
            )
        household = await households.add_household(
            staff,
            int(hamlet),
            head_name=_text(form, "head"),
            members_count=int(members),
            address=_text(form, "address"),
            phone=_text(form, "phone") or None,
            source="web",
        )
    except CommunepolError as err:
        if isinstance(err, NotFound):
            raise
        return await _households_page(
            request, status=err.http_status, error=error_text(request, err), form=form
        )
    commune = request.query.get("commune", "")
    return redirect(f"/admin/households?commune={commune}&added={household.id}")


async def import_households(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    commune_id = _commune_id(request)
    if commune_id is None:
        raise NotFound("not found")
    form = await request.post()
    upload = form.get("file")
    data = upload.file.read(MAX_UPLOAD_BYTES + 1) if isinstance(upload, FileField) else b""
    try:
        if not data:
            raise ValidationError(_("Choose a CSV file."), field="file")
        result = await households.import_for(
            staff,
            commune_id,
            data,
            create_hamlets=_text(form, "create_hamlets") == "yes",
            source="web",
        )
    except ValidationError as err:
        return await _households_page(request, status=400, error=error_text(request, err))
    return await _households_page(request, result=result)


def setup_screen_routes(admin: web.Application) -> None:
    admin.router.add_get("/", dashboard, name="admin-dashboard")
    admin.router.add_get("/coverage", coverage, name="admin-coverage")
    admin.router.add_get("/households", households_page, name="admin-households")
    admin.router.add_post("/households", add_household, name="admin-households")
    admin.router.add_post("/households/import", import_households, name="admin-households-upload")
