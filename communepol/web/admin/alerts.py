"""The admin screens for alerts: the list of alerts in scope, the form that issues one (a
missing person or a fraud wave: who, a photo, last seen where and when, whom to call, and
the pages or unit subtrees it reaches), and an alert's page — its status, the two-person
approval, its updates and its end ("found"), with the link to its CAP document.

Everything goes through `services.alerts` (`officers.issue_alert` creates and sends in one
change; `Alerts.approve/reject/update/cancel`), which keeps to the staff member's scope.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from communepol import keys
from communepol.db.models import AlertStatus
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import N_, POST_CATEGORY_LABELS, _
from communepol.services import alerts, officers, postboard, scope
from communepol.services.alerts import PHOTO_MAX_BYTES, AlertInput, Alerts
from communepol.web.admin.auth import redirect
from communepol.web.admin.posts import parse_local
from communepol.web.admin.shell import current_of, is_id, render, translate

ALERT_STATUS_LABELS = {
    AlertStatus.DRAFT.value: N_("Draft"),
    AlertStatus.PENDING_APPROVAL.value: N_("Waiting for a second person"),
    AlertStatus.ACTIVE.value: N_("Out"),
    AlertStatus.CLOSED.value: N_("Ended"),
    AlertStatus.EXPIRED.value: N_("Expired"),
}
MESSAGE_TYPE_LABELS = {"Alert": N_("Alert"), "Update": N_("Update"), "Cancel": N_("End")}
FIELD_MESSAGES = {
    "category": N_("Choose a category from the list."),
    "headline": N_("Write a headline (at most 200 characters)."),
    "description": N_("The description has at most 4000 characters."),
    "instruction": N_("The instruction has at most 4000 characters."),
    "subject_name": N_("The name has at most 200 characters."),
    "subject_description": N_("The description of the person has at most 4000 characters."),
    "last_seen_place": N_("The place has at most 300 characters."),
    "last_seen_at": N_("Give a date and time in Vietnam time."),
    "contact_phone": N_("Not a Vietnamese phone number."),
    "expires_at": N_("The expiry must come after now."),
    "targets": N_("Choose at least one page or unit."),
    "photo": N_("Attach a photo (JPEG, PNG, WebP) of at most 5 MB."),
    "note": N_("Write what happened (at most 4000 characters)."),
    "reason": N_("Say why it is not sent."),
}
_TEXT_FIELDS = (
    "category",
    "headline",
    "description",
    "instruction",
    "subject_name",
    "subject_description",
    "last_seen_place",
    "last_seen_at",
    "contact_phone",
    "expires_at",
    "note",
    "reason",
)


def _service(request: web.Request) -> Alerts:
    return Alerts(request.config_dict[keys.SETTINGS], request.config_dict[keys.I18N])


def _id(request: web.Request) -> int:
    value = request.match_info["id"]
    if not is_id(value):
        raise NotFound("not found")
    return int(value)


def _ids(form: MultiDictProxy[Any], name: str) -> list[int]:
    values = [value for value in form.getall(name, []) if isinstance(value, str)]
    if any(not is_id(value) for value in values):
        raise NotFound("not found")
    return [int(value) for value in values]


def _values(form: MultiDictProxy[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    return values


def _input(request: web.Request, values: dict[str, Any], **targets: list[int]) -> AlertInput:
    settings = request.config_dict[keys.SETTINGS]
    return AlertInput(
        category=values["category"],
        headline=values["headline"],
        description=values["description"],
        instruction=values["instruction"],
        subject_name=values["subject_name"] or None,
        subject_description=values["subject_description"] or None,
        last_seen_place=values["last_seen_place"] or None,
        last_seen_at=parse_local(values["last_seen_at"], settings, "last_seen_at"),
        contact_phone=values["contact_phone"] or None,
        expires_at=parse_local(values["expires_at"], settings, "expires_at"),
        pages=targets.get("pages", []),
        units=targets.get("units", []),
    )


def _error(request: web.Request, err: ValidationError) -> dict[str, str]:
    """The field a service refusal is about (a media refusal names "file", or nothing: it is
    the photo's)."""
    name = {"phone": "contact_phone", "file": "photo", None: "photo"}.get(err.field, err.field)
    name = name or ""
    if name not in FIELD_MESSAGES:
        name = "headline"
    return {name: translate(request, FIELD_MESSAGES[name])}


async def alerts_list(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    return await render(
        request,
        "admin/alerts.html",
        {
            "alerts": await postboard.recent_alerts(staff),
            "statuses": ALERT_STATUS_LABELS,
            "categories": POST_CATEGORY_LABELS,
        },
    )


async def _new_page(
    request: web.Request,
    *,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    staff = current_of(request).staff
    return await render(
        request,
        "admin/alerts_new.html",
        {
            "targets": await postboard.alert_targets(staff),
            "categories": [(c.value, POST_CATEGORY_LABELS[c.value]) for c in alerts.CATEGORIES],
            "form": form,
            "errors": errors or {},
        },
        status=status,
    )


async def new_form(request: web.Request) -> web.StreamResponse:
    return await _new_page(request, form={"category": "missing_person", "pages": [], "units": []})


async def issue(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    form = await request.post()
    values = _values(form)
    pages, units = _ids(form, "pages"), _ids(form, "units")
    values.update(pages=pages, units=units)
    upload = form.get("photo")
    photo = upload.file.read(PHOTO_MAX_BYTES + 1) if isinstance(upload, FileField) else b""
    try:
        data = _input(request, values, pages=pages, units=units)
        alert = await officers.issue_alert(
            staff, data, _service(request), photo=photo or None, source="web"
        )
    except ValidationError as err:
        return await _new_page(request, form=values, errors=_error(request, err), status=400)
    return redirect(f"/admin/alerts/{alert.id}?sent=1")


async def _detail(
    request: web.Request,
    *,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    staff = current_of(request).staff
    details = await postboard.alert_details(staff, _id(request))
    original = details.original
    own = original.created_by_id == staff.id  # type: ignore[attr-defined]
    return await render(
        request,
        "admin/alerts_detail.html",
        {
            "details": details,
            "alert": original,
            "statuses": ALERT_STATUS_LABELS,
            "types": MESSAGE_TYPE_LABELS,
            "categories": POST_CATEGORY_LABELS,
            "base_url": request.config_dict[keys.SETTINGS].public_base_url,
            "can_decide": staff.role in scope.APPROVER_ROLES and not own,
            "message": message,
            "errors": errors or {},
            "form": form or {},
            "sent": request.query.get("sent") == "1",
            "done": request.query.get("done", ""),
        },
        status=status,
    )


async def detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request)


async def _decide(request: web.Request, *, approve: bool) -> web.StreamResponse:
    staff = current_of(request).staff
    alert_id = _id(request)
    form = await request.post()
    reason = form.get("reason")
    try:
        if approve:
            await _service(request).approve(staff, alert_id)
        else:
            await _service(request).reject(
                staff, alert_id, reason if isinstance(reason, str) else ""
            )
    except PermissionDenied:
        message = translate(request, _("A second person must decide: not the issuer."))
        return await _detail(request, message=message, status=403)
    except Conflict:
        message = translate(request, _("This alert is no longer waiting for approval."))
        return await _detail(request, message=message, status=409)
    except ValidationError:
        errors = {"reason": translate(request, FIELD_MESSAGES["reason"])}
        return await _detail(request, errors=errors, status=400)
    return redirect(f"/admin/alerts/{alert_id}?done={'approved' if approve else 'refused'}")


async def approve(request: web.Request) -> web.StreamResponse:
    return await _decide(request, approve=True)


async def reject(request: web.Request) -> web.StreamResponse:
    return await _decide(request, approve=False)


async def update(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    alert_id = _id(request)
    form = await request.post()
    values = _values(form)
    try:
        data = _input(request, values)
        await _service(request).update(staff, alert_id, data)
    except ValidationError as err:
        return await _detail(request, errors=_error(request, err), form=values, status=400)
    except Conflict:
        message = translate(request, _("This alert is not out: it was not sent, or it has ended."))
        return await _detail(request, message=message, status=409)
    return redirect(f"/admin/alerts/{alert_id}?done=updated")


async def cancel(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    alert_id = _id(request)
    form = await request.post()
    note = form.get("note")
    try:
        await _service(request).cancel(staff, alert_id, note if isinstance(note, str) else "")
    except ValidationError as err:
        errors = {"note": translate(request, FIELD_MESSAGES["note"])} if err.field else {}
        return await _detail(request, errors=errors, status=400)
    except Conflict:
        message = translate(request, _("This alert is not out: it was not sent, or it has ended."))
        return await _detail(request, message=message, status=409)
    return redirect(f"/admin/alerts/{alert_id}?done=ended")


def setup_alerts_routes(admin: web.Application) -> None:
    admin.router.add_get("/alerts", alerts_list, name="admin-alerts")
    admin.router.add_get("/alerts/new", new_form, name="admin-alert-new")
    admin.router.add_post("/alerts/new", issue, name="admin-alert-issue")
    admin.router.add_get(r"/alerts/{id:\d+}", detail, name="admin-alert")
    admin.router.add_post(r"/alerts/{id:\d+}/approve", approve, name="admin-alert-approve")
    admin.router.add_post(r"/alerts/{id:\d+}/reject", reject, name="admin-alert-reject")
    admin.router.add_post(r"/alerts/{id:\d+}/update", update, name="admin-alert-update")
    admin.router.add_post(r"/alerts/{id:\d+}/cancel", cancel, name="admin-alert-cancel")
