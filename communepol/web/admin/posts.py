"""The admin screens for posts: the list, the month calendar, the editor (texts per language,
an attachment, the schedule, expiry, "every household must hear it"), a post's delivery
figures with "stop", and the approval queue of posts and alerts.

Each handler parses the form, calls one service (`postboard`, `posts`, `officers`) with the
signed-in staff member — the services keep to their scope — and renders. A refused input
re-renders the form with the message next to its field and the typed values kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from bots.officer.post import PRESETS
from communepol import keys
from communepol.db.models import PostCategory, PostStatus, ScheduleKind
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import N_, POST_CATEGORY_LABELS, POST_STATUS_LABELS, _
from communepol.services import officers, postboard, posts
from communepol.services.posts import PostInput, Translation
from communepol.settings import Settings
from communepol.web.admin.auth import redirect
from communepol.web.admin.shell import current_of, error_text, is_id, render, translate

# What the editor says next to a field the service refused (its own messages are English).
FIELD_MESSAGES = {
    "category": N_("Choose a category from the list."),
    "title_vi": N_("Write a title (at most 300 characters)."),
    "body_vi": N_("Write the text (at most 8000 characters)."),
    "title_en": N_("Write a title (at most 300 characters)."),
    "body_en": N_("Write the text (at most 8000 characters)."),
    "at": N_("Give a date and time to publish, in Vietnam time, that has not passed."),
    "cron": N_("Not a schedule: five fields (minute hour day month weekday), e.g. 0 7 * * mon."),
    "expires_at": N_("The expiry must come after now and after the publication."),
    "file": N_("Attach a photo (JPEG, PNG, WebP) or a PDF of at most 5 MB; at most 4 per post."),
    "reason": N_("Say why it is sent back."),
}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # an <input type="datetime-local">


def _settings(request: web.Request) -> Settings:
    return request.config_dict[keys.SETTINGS]


def _id(value: str | None) -> int:
    """A route's or a form's id; anything else reads like a missing object."""
    value = (value or "").strip()
    if not is_id(value):
        raise NotFound("not found")
    return int(value)


def _optional_id(value: str | None) -> int | None:
    return _id(value) if (value or "").strip() else None


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def parse_local(value: str, settings: Settings, field: str) -> datetime | None:
    """A date-time typed in Vietnam time (``datetime-local``), aware; None when empty."""
    value = value.strip()
    if not value:
        return None
    try:
        typed = datetime.strptime(value[:16], LOCAL_FORMAT).replace(tzinfo=settings.tz)
    except ValueError as err:
        raise ValidationError("not a date and time", field=field) from err
    return typed


def to_local(moment: datetime | None, settings: Settings) -> str:
    """A stored UTC time as the editor's ``datetime-local`` value."""
    return moment.astimezone(settings.tz).strftime(LOCAL_FORMAT) if moment else ""


def _version(value: str) -> int:
    """The version the editor read; anything else never matches (a conflict)."""
    return int(value) if is_id(value) else 0


def _field_of(err: ValidationError, form: dict[str, str]) -> str:
    """The editor's field a service refusal is about."""
    name = err.field or ""
    if name in ("title", "body", "translations", "locale"):
        base = "title" if name in ("translations", "locale") else name
        for locale in ("vi", "en"):
            typed = form.get(f"{base}_{locale}", "").strip()
            if not typed or len(typed) > (posts.TITLE_MAX if base == "title" else posts.BODY_MAX):
                return f"{base}_{locale}"
        return f"{base}_vi"
    if name == "cron_expression":
        return "cron"
    if not name:  # the media store names no field: it is the attachment
        return "file"
    return name if name in FIELD_MESSAGES else "category"


def _post_input(form: dict[str, str], settings: Settings) -> PostInput:
    """What the editor's form says, for `posts.validate` (which checks the rest)."""
    translations = []
    for locale in ("vi", "en"):
        title, body = form.get(f"title_{locale}", ""), form.get(f"body_{locale}", "")
        if locale == "vi" and not title.strip():
            raise ValidationError("the Vietnamese title is required", field="title_vi")
        if locale == "vi" and not body.strip():
            raise ValidationError("the Vietnamese text is required", field="body_vi")
        if title.strip() or body.strip():
            translations.append(Translation(locale, title, body))
    kind = form.get("schedule", "now")
    if kind not in {schedule.value for schedule in ScheduleKind}:
        raise ValidationError("unknown schedule", field="at")
    cron = None
    if kind == ScheduleKind.CRON.value:
        preset = form.get("preset", "")
        cron = PRESETS[preset][0] if preset in PRESETS else form.get("cron", "")
        if not cron.strip():
            raise ValidationError("no cron expression", field="cron")
    at = parse_local(form.get("at", ""), settings, "at")
    if kind == ScheduleKind.ONCE.value and at is None:
        raise ValidationError("give the time to publish at", field="at")
    return PostInput(
        category=form.get("category", ""),
        translations=translations,
        schedule=ScheduleKind(kind),
        at=at if kind == ScheduleKind.ONCE.value else None,
        cron=cron,
        expires_at=parse_local(form.get("expires_at", ""), settings, "expires_at"),
        must_reach_every_household=form.get("every_household") == "yes",
    )


def _form_of(post: posts.Post, settings: Settings) -> dict[str, str]:
    """The editor's values for a stored post."""
    values = {
        "category": post.category.value,
        "schedule": post.schedule_kind.value,
        "at": to_local(post.next_run_at, settings)
        if post.schedule_kind is ScheduleKind.ONCE
        else "",
        "cron": post.cron_expression or "",
        "preset": "",
        "expires_at": to_local(post.expires_at, settings),
        "every_household": "yes" if post.must_reach_every_household else "",
        "version": str(post.version),
    }
    for key, (expression, _label) in PRESETS.items():
        if post.cron_expression == expression:
            values["preset"] = key
    for translation in post.translations:
        values[f"title_{translation.locale}"] = translation.title
        values[f"body_{translation.locale}"] = translation.body
    return values


def _editor_context(request: web.Request) -> dict[str, Any]:
    return {
        "categories": [(c.value, POST_CATEGORY_LABELS[c.value]) for c in PostCategory],
        "presets": [(key, expression, label) for key, (expression, label) in PRESETS.items()],
        "field_messages": FIELD_MESSAGES,
    }


async def _editor(
    request: web.Request,
    *,
    page: Any,
    post: posts.Post | None,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> web.StreamResponse:
    return await render(
        request,
        "admin/posts_edit.html",
        {
            **_editor_context(request),
            "page": page,
            "post": post,
            "form": form,
            "errors": errors or {},
            "message": message,
        },
        status=status,
    )


# --- the list and the calendar -------------------------------------------------------------


async def posts_list(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    page_id = _optional_id(request.query.get("page"))
    status_value = request.query.get("status", "")
    status = PostStatus(status_value) if status_value in POST_STATUS_LABELS else None
    rows = await postboard.list_posts(staff, page_id=page_id, status=status)
    return await render(
        request,
        "admin/posts.html",
        {
            "rows": rows,
            "pages": await officers.pages_in_scope(staff),
            "chosen_page": page_id,
            "chosen_status": status.value if status else "",
            "statuses": POST_STATUS_LABELS,
            "categories": POST_CATEGORY_LABELS,
        },
    )


def _month(value: str, settings: Settings) -> tuple[int, int]:
    if not value:
        return postboard.current_month(settings)
    year, dash, month = value.partition("-")
    if not (dash and year.isdigit() and month.isdigit() and len(year) == 4 and len(month) <= 2):
        raise NotFound("not found")
    if not 1 <= int(month) <= 12 or not 2000 <= int(year) <= 2100:
        raise NotFound("not found")
    return int(year), int(month)


async def posts_calendar(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    settings = _settings(request)
    year, month = _month(request.query.get("month", "").strip(), settings)
    page_id = _optional_id(request.query.get("page"))
    grid = await postboard.month_calendar(staff, year, month, settings, page_id=page_id)
    return await render(
        request,
        "admin/posts_calendar.html",
        {
            "month": grid,
            "weekdays": WEEKDAYS,
            "pages": await officers.pages_in_scope(staff),
            "chosen_page": page_id,
            "statuses": POST_STATUS_LABELS,
            "tz": settings.tz,
        },
    )


# --- the editor ----------------------------------------------------------------------------


async def new_form(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    page_id = _optional_id(request.query.get("page"))
    if page_id is None:
        pages = await officers.pages_in_scope(staff)
        if len(pages) != 1:
            return await render(request, "admin/posts_pick_page.html", {"pages": pages})
        page_id = pages[0].id
    page = await officers.page_in_scope(staff, page_id)
    return await _editor(
        request, page=page, post=None, form={"category": "announcement", "schedule": "now"}
    )


async def _upload(form: MultiDictProxy[Any]) -> tuple[bytes, str] | None:
    upload = form.get("file")
    if not isinstance(upload, FileField):
        return None
    data = upload.file.read(posts.ATTACHMENT_MAX_BYTES + 1)
    return (data, upload.filename or "file") if data else None


async def _save(request: web.Request, post_id: int | None) -> web.StreamResponse:
    staff = current_of(request).staff
    settings = _settings(request)
    raw_form = await request.post()
    form = {key: _text(raw_form, key) for key in raw_form if key not in ("csrf", "file")}
    if post_id is None:
        page = await officers.page_in_scope(staff, _id(request.query.get("page")))
        post = None
    else:
        post = await posts.get_post(staff, post_id)
        page = post.page
    try:
        data = _post_input(form, settings)
        saved = await postboard.save_post(
            staff,
            data,
            settings,
            page_id=page.id,
            post_id=post_id,
            version=_version(form.get("version", "")),
            attachment=await _upload(raw_form),
            submit=form.get("action") == "submit",
        )
    except ValidationError as err:
        name = _field_of(err, form)
        known = FIELD_MESSAGES.get(name)
        errors = {name: translate(request, known) if known else error_text(request, err)}
        return await _editor(request, page=page, post=post, form=form, errors=errors, status=400)
    except Conflict:
        message = translate(
            request, _("Someone changed this post meanwhile, or it went out. Reload it.")
        )
        return await _editor(request, page=page, post=post, form=form, message=message, status=409)
    return redirect(f"/admin/posts/{saved.id}?saved=1")


async def create(request: web.Request) -> web.StreamResponse:
    return await _save(request, None)


async def edit_form(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    post = await posts.get_post(staff, _id(request.match_info["id"]))
    if post.alert_id is not None:  # type: ignore[attr-defined]
        raise NotFound("not found")  # an alert's post changes through the alert
    return await _editor(
        request, page=post.page, post=post, form=_form_of(post, _settings(request))
    )


async def edit(request: web.Request) -> web.StreamResponse:
    return await _save(request, _id(request.match_info["id"]))


# --- one post: its figures, stop, cancel ---------------------------------------------------


async def _detail(
    request: web.Request, *, message: str | None = None, status: int = 200
) -> web.StreamResponse:
    details = await postboard.post_details(current_of(request).staff, _id(request.match_info["id"]))
    return await render(
        request,
        "admin/posts_detail.html",
        {
            "post": details.post,
            "title": details.title,
            "stats": details.stats,
            "statuses": POST_STATUS_LABELS,
            "categories": POST_CATEGORY_LABELS,
            "saved": request.query.get("saved") == "1",
            "stopped": request.query.get("stopped"),
            "message": message,
            "editable": details.editable,
            "cancellable": details.cancellable,
        },
        status=status,
    )


async def detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request)


async def stop(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    post_id = _id(request.match_info["id"])
    form = await request.post()
    publication_id = _id(_text(form, "publication"))
    try:
        stopped = await posts.stop_publication(staff, publication_id, post_id=post_id)
    except Conflict:
        message = translate(request, _("This publication is already stopped or done."))
        return await _detail(request, message=message, status=409)
    return redirect(f"/admin/posts/{post_id}?stopped={stopped}")


async def cancel(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    post_id = _id(request.match_info["id"])
    try:
        await posts.cancel_post(staff, post_id)
    except Conflict:
        message = translate(request, _("This post is already published, cancelled or expired."))
        return await _detail(request, message=message, status=409)
    return redirect(f"/admin/posts/{post_id}")


# --- the approval queue --------------------------------------------------------------------


async def _approvals(
    request: web.Request, *, message: str | None = None, status: int = 200
) -> web.StreamResponse:
    waiting = await officers.approvals(current_of(request).staff)
    return await render(
        request,
        "admin/posts_approvals.html",
        {
            "approver": waiting.approver,
            "posts": waiting.posts,
            "alerts": waiting.alerts,
            "categories": POST_CATEGORY_LABELS,
            "message": message,
            "done": request.query.get("done", ""),
        },
        status=status,
    )


async def approvals(request: web.Request) -> web.StreamResponse:
    return await _approvals(request)


async def approve(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    post_id = _id(request.match_info["id"])
    try:
        await posts.approve_post(staff, post_id, _settings(request))
    except PermissionDenied:
        message = translate(request, _("A second person must approve: not the author."))
        return await _approvals(request, message=message, status=403)
    except (Conflict, ValidationError):
        message = translate(request, _("This post is no longer waiting for approval."))
        return await _approvals(request, message=message, status=409)
    return redirect("/admin/approvals?done=approved")


async def reject(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    post_id = _id(request.match_info["id"])
    form = await request.post()
    try:
        await posts.reject_post(staff, post_id, _text(form, "reason"))
    except ValidationError:
        return await _approvals(
            request, message=translate(request, FIELD_MESSAGES["reason"]), status=400
        )
    except Conflict:
        message = translate(request, _("This post is no longer waiting for approval."))
        return await _approvals(request, message=message, status=409)
    return redirect("/admin/approvals?done=rejected")


def setup_posts_routes(admin: web.Application) -> None:
    admin.router.add_get("/posts", posts_list, name="admin-posts")
    admin.router.add_get("/posts/calendar", posts_calendar, name="admin-posts-calendar")
    admin.router.add_get("/posts/new", new_form, name="admin-post-new")
    admin.router.add_post("/posts/new", create, name="admin-post-create")
    admin.router.add_get(r"/posts/{id:\d+}", detail, name="admin-post")
    admin.router.add_get(r"/posts/{id:\d+}/edit", edit_form, name="admin-post-edit")
    admin.router.add_post(r"/posts/{id:\d+}/edit", edit, name="admin-post-save")
    admin.router.add_post(r"/posts/{id:\d+}/stop", stop, name="admin-post-stop")
    admin.router.add_post(r"/posts/{id:\d+}/cancel", cancel, name="admin-post-cancel")
    admin.router.add_post(r"/posts/{id:\d+}/approve", approve, name="admin-post-approve")
    admin.router.add_post(r"/posts/{id:\d+}/reject", reject, name="admin-post-reject")
    admin.router.add_get("/approvals", approvals, name="admin-approvals")
