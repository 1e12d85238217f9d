"""The household groups screen (shared household accounts, issue 6): a commune's groups with
their households, who agreed and whether the representative is linked; creating a group, which
shows its one-time link code once; a new code for a handover; adding and removing a household;
a household's own-account code. Every write goes through `services.householdgroups`, which
keeps to the staff member's scope (another commune's group is `NotFound`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from communepol import keys
from communepol.errors import CommunepolError, NotFound, ValidationError
from communepol.i18n import _
from communepol.services import householdgroups, overview
from communepol.services.householdgroups import IssuedCode
from communepol.web.admin.auth import redirect
from communepol.web.admin.shell import current_of, error_text, is_id, render, translate


def _id(value: str) -> int:
    value = value.strip()
    if not is_id(value):
        raise NotFound("not found")
    return int(value)


def _commune_id(request: web.Request) -> int | None:
    value = request.query.get("commune", "").strip()
    return _id(value) if value else None


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _household_id(form: MultiDictProxy[Any]) -> int:
    value = _text(form, "household").strip()
    if not is_id(value):
        raise ValidationError(_("Choose a household."), field="household")
    return int(value)


async def _page(
    request: web.Request,
    commune_id: int | None,
    *,
    status: int = 200,
    error: str | None = None,
    issued: IssuedCode | None = None,
    issued_for: str = "",
    form: MultiDictProxy[Any] | None = None,
) -> web.StreamResponse:
    staff = current_of(request).staff
    commune = await overview.commune_for(staff, commune_id)
    if commune is None:
        communes = await overview.communes_for(staff)
        return await render(
            request, "admin/pick_commune.html", {"communes": communes, "screen": "groups"}
        )
    groups = await householdgroups.groups_of(staff, commune.id)
    free = await householdgroups.ungrouped(staff, commune.id)
    chosen = set(form.getall("households", [])) if form is not None else set()
    return await render(
        request,
        "admin/groups.html",
        {
            "commune": commune,
            "groups": groups,
            "free": sorted(free.items(), key=lambda item: (item[0].name, item[0].id)),
            "free_count": sum(len(rows) for rows in free.values()),
            "error": error,
            "issued": issued,
            "issued_for": issued_for,
            "done": request.query.get("done", ""),
            "form": form or {},
            "chosen": chosen,
        },
        status=status,
    )


def _refusal(request: web.Request, err: CommunepolError) -> str:
    return error_text(request, err)


async def groups_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, _commune_id(request))


async def create_group(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    commune_id = _commune_id(request)
    if commune_id is None:
        raise NotFound("not found")
    form = await request.post()
    chosen = [value for value in form.getall("households", []) if isinstance(value, str)]
    try:
        if any(not is_id(value) for value in chosen):
            raise ValidationError(_("Choose the households of the group."), field="households")
        group, issued = await householdgroups.create_group(
            request.config_dict[keys.KEYRING],
            staff,
            commune_id,
            _text(form, "name"),
            [int(value) for value in chosen],
            source="web",
        )
    except CommunepolError as err:
        if isinstance(err, NotFound):
            raise
        return await _page(
            request, commune_id, status=err.http_status, error=_refusal(request, err), form=form
        )
    # The code is shown on this answer only: it is stored as a hash and cannot be shown again.
    return await _page(request, commune_id, issued=issued, issued_for=group.name)


async def new_code(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    group_id = _id(request.match_info["group"])
    issued = await householdgroups.issue_handover_code(
        request.config_dict[keys.KEYRING], staff, group_id, source="web"
    )
    view = await householdgroups.group_detail(staff, group_id)
    return await _page(request, view.commune.id, issued=issued, issued_for=view.group.name)


async def _member_change(request: web.Request, *, add: bool) -> web.StreamResponse:
    staff = current_of(request).staff
    group_id = _id(request.match_info["group"])
    view = await householdgroups.group_detail(staff, group_id)
    form = await request.post()
    try:
        household_id = _household_id(form)
        if add:
            await householdgroups.add_member(staff, group_id, household_id, source="web")
        else:
            await householdgroups.remove_member(staff, group_id, household_id, source="web")
    except CommunepolError as err:
        if isinstance(err, NotFound):
            raise
        return await _page(
            request, view.commune.id, status=err.http_status, error=_refusal(request, err)
        )
    done = "added" if add else "removed"
    return redirect(f"/admin/groups?commune={view.commune.id}&done={done}")


async def add_member(request: web.Request) -> web.StreamResponse:
    return await _member_change(request, add=True)


async def remove_member(request: web.Request) -> web.StreamResponse:
    return await _member_change(request, add=False)


async def own_account_code(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    household_id = _id(request.match_info["household"])
    issued = await householdgroups.issue_own_account_code(
        request.config_dict[keys.KEYRING], staff, household_id, source="web"
    )
    return await _page(
        request,
        _commune_id(request),
        issued=issued,
        issued_for=translate(request, _("a household's own account")),
    )


def setup_groups_routes(admin: web.Application) -> None:
    admin.router.add_get("/groups", groups_page, name="admin-groups")
    admin.router.add_post("/groups", create_group, name="admin-groups-create")
    admin.router.add_post(r"/groups/{group:\d+}/code", new_code, name="admin-groups-code")
    admin.router.add_post(r"/groups/{group:\d+}/add", add_member, name="admin-groups-add")
    admin.router.add_post(r"/groups/{group:\d+}/remove", remove_member, name="admin-groups-remove")
    admin.router.add_post(
        r"/groups/household/{household:\d+}/code", own_account_code, name="admin-groups-own"
    )
