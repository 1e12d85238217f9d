"""The roster screen (/admin/staff) and the duty board: the staff of the units in scope (role,
unit, bot linked, web login, active, on duty now); for supervisors and admins, adding a staff
member (their one-time bot link code shown once, and with a username a web login whose random
initial password is shown once too), giving an existing staff member a web login, resetting
their web password, ending their open web sessions (counted on the screen), changing a role,
deactivating (their web sessions end at once), a new link code, and starting or ending
someone's shift.

Only the fields each form is about are read: a posted ``role``, ``unit`` or ``active`` is
judged by `services.staff` (a role the actor may not give is refused, a unit outside the
subtree is `NotFound`), never written as sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from communepol import keys
from communepol.db.models import Role
from communepol.errors import CommunepolError, NotFound, PermissionDenied, ValidationError
from communepol.i18n import N_, _
from communepol.services import duty
from communepol.services import staff as roster
from communepol.web.admin.auth import redirect
from communepol.web.admin.shell import current_of, error_text, is_id, render

ROLE_LABELS = {
    Role.OFFICER: N_("Officer"),
    Role.SUPERVISOR: N_("Supervisor"),
    Role.ADMIN: N_("Admin"),
}
DONE = {
    "role": N_("The role is changed."),
    "deactivated": N_("The staff member is deactivated; their web sessions have ended."),
    "on": N_("The shift has started."),
    "off": N_("The shift has ended."),
    "already": N_("Nothing to change: the shift was already so."),
    "sessions": N_("Their web sessions have ended."),
}


@dataclass(frozen=True)
class Issued:
    name: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedPassword:
    name: str
    username: str
    password: str
    expires_at: datetime


def _id(value: str) -> int:
    value = value.strip()
    if not is_id(value):
        raise NotFound("not found")
    return int(value)


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _role(form: MultiDictProxy[Any]) -> Role:
    try:
        return Role(_text(form, "role"))
    except ValueError:
        raise ValidationError(_("Choose a role."), field="role") from None


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    issued: Issued | None = None,
    issued_password: IssuedPassword | None = None,
    form: MultiDictProxy[Any] | None = None,
) -> web.StreamResponse:
    actor = current_of(request).staff
    entries = await roster.roster(actor)
    manager = roster.may_manage(actor)
    done = DONE.get(request.query.get("done", ""))
    return await render(
        request,
        "admin/roster.html",
        {
            "entries": entries,
            "manager": manager,
            "units": await roster.roster_units(actor) if manager else [],
            "roles": roster.grantable_roles(actor),
            "role_labels": ROLE_LABELS,
            "board": await duty.board(actor),
            "me": actor.id,
            "error": error,
            "issued": issued,
            "issued_password": issued_password,
            "done": done,
            "form": form or {},
        },
        status=status,
    )


async def _refused(
    request: web.Request, err: CommunepolError, form: MultiDictProxy[Any] | None = None
) -> web.StreamResponse:
    if isinstance(err, (NotFound, PermissionDenied)):
        raise err  # the middleware's page: nothing of the object, in the reader's language
    return await _page(request, status=err.http_status, error=error_text(request, err), form=form)


async def roster_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


async def add(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    form = await request.post()
    unit = _text(form, "unit").strip()
    try:
        if not is_id(unit):
            raise ValidationError(_("Choose a unit."), field="unit")
        enrolment = await roster.add_staff_in_scope(
            request.config_dict[keys.KEYRING],
            actor,
            full_name=_text(form, "full_name"),
            unit_id=int(unit),
            role=_role(form),
            phone=_text(form, "phone").strip() or None,
            username=_text(form, "username").strip() or None,
        )
    except CommunepolError as err:
        return await _refused(request, err, form)
    # Shown on this answer only: the code is stored as a keyed hash, the password as argon2.
    issued = Issued(enrolment.staff.full_name, enrolment.link_code, enrolment.link_code_expires_at)
    password = None
    if enrolment.initial_password and enrolment.password_expires_at:
        password = IssuedPassword(
            enrolment.staff.full_name,
            enrolment.staff.username or "",
            enrolment.initial_password,
            enrolment.password_expires_at,
        )
    return await _page(request, issued=issued, issued_password=password)


async def change_role(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    staff_id = _id(request.match_info["staff"])
    form = await request.post()
    try:
        await roster.set_role(actor, staff_id, _role(form))
    except CommunepolError as err:
        return await _refused(request, err)
    return redirect("/admin/staff?done=role")


async def deactivate(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    try:
        await roster.deactivate_staff(actor, _id(request.match_info["staff"]))
    except CommunepolError as err:
        return await _refused(request, err)
    return redirect("/admin/staff?done=deactivated")


async def new_code(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    try:
        target, code, expires_at = await roster.reissue_link_code(
            request.config_dict[keys.KEYRING], actor, _id(request.match_info["staff"])
        )
    except CommunepolError as err:
        return await _refused(request, err)
    return await _page(request, issued=Issued(target.full_name, code, expires_at))


def _issued_password(initial: roster.InitialPassword) -> IssuedPassword:
    return IssuedPassword(
        initial.staff.full_name, initial.username, initial.password, initial.expires_at
    )


async def give_login(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    staff_id = _id(request.match_info["staff"])
    form = await request.post()
    try:
        initial = await roster.give_web_login(actor, staff_id, _text(form, "username"))
    except CommunepolError as err:
        return await _refused(request, err)
    return await _page(request, issued_password=_issued_password(initial))


async def reset_password(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    try:
        initial = await roster.reset_web_password(actor, _id(request.match_info["staff"]))
    except CommunepolError as err:
        return await _refused(request, err)
    return await _page(request, issued_password=_issued_password(initial))


async def end_sessions(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    try:
        await roster.end_sessions(actor, _id(request.match_info["staff"]))
    except CommunepolError as err:
        return await _refused(request, err)
    return redirect("/admin/staff?done=sessions")


async def duty_on(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    started = await duty.start_for(actor, _id(request.match_info["staff"]))
    return redirect(f"/admin/staff?done={'on' if started else 'already'}#duty")


async def duty_off(request: web.Request) -> web.StreamResponse:
    actor = current_of(request).staff
    ended = await duty.end_for(actor, _id(request.match_info["staff"]))
    return redirect(f"/admin/staff?done={'off' if ended is not None else 'already'}#duty")


def setup_roster_routes(admin: web.Application) -> None:
    admin.router.add_get("/staff", roster_page, name="admin-staff")
    admin.router.add_post("/staff", add, name="admin-staff-add")
    admin.router.add_post(r"/staff/{staff:\d+}/role", change_role, name="admin-staff-role")
    admin.router.add_post(
        r"/staff/{staff:\d+}/deactivate", deactivate, name="admin-staff-deactivate"
    )
    admin.router.add_post(r"/staff/{staff:\d+}/code", new_code, name="admin-staff-code")
    admin.router.add_post(r"/staff/{staff:\d+}/login", give_login, name="admin-staff-login")
    admin.router.add_post(
        r"/staff/{staff:\d+}/password", reset_password, name="admin-staff-password"
    )
    admin.router.add_post(
        r"/staff/{staff:\d+}/sessions/end", end_sessions, name="admin-staff-sessions-end"
    )
    admin.router.add_post(r"/staff/{staff:\d+}/duty/on", duty_on, name="admin-staff-duty-on")
    admin.router.add_post(r"/staff/{staff:\d+}/duty/off", duty_off, name="admin-staff-duty-off")
