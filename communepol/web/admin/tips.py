"""The admin web's tip desk: the reply-time board (``/admin/board``) with its "remind the
station" action, the tips inbox (``/admin/tips``, filtered by GET parameters) and a tip's page
(``/admin/tips/<reference>``) with the thread, the events, the attachments and a form for each
officer action the bot has — for a rumour check also its cluster, the verdict and the
rumour-check post (`rumours.give_verdict` / `publish_verdict`, the bot's own calls).

Each handler parses the request, calls one service (`services.tipdesk` for what is read, the
`Tips` desk the bot uses for every action, with ``source="web"``) and renders; the services
keep to the staff member's scope, so a tip or commune outside it is a 404. A tip changed by
someone else meanwhile (`Conflict`) is said on the tip's page, not as an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import MultiDictProxy, MultiMapping

from communepol import keys
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    RumourVerdict,
    TipCategory,
    TipMessageDirection,
    TipStatus,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import N_, TIP_CATEGORY_LABELS, TIP_STATUS_LABELS, TIP_URGENCY_LABELS, _
from communepol.services import rumours, tipcards, tipdesk
from communepol.services.rumours import MAX_EXPLANATION, VERDICT_LABELS
from communepol.services.tips import Tips
from communepol.web.admin.auth import redirect
from communepol.web.admin.shell import (
    client_ip,
    csv_download,
    current_of,
    is_id,
    render,
    translate,
)

# What a finished action says on the page it leads back to (?done=…).
DONE = {
    "ack": N_("Acknowledged: the resident is told it was received."),
    "take": N_("The tip is yours now: the resident is told an officer works on it."),
    "reply": N_("Your reply was relayed to the resident."),
    "unreached": N_("Your reply is kept in the thread, but the resident can no longer be reached."),
    "note": N_("Note added; residents never see notes."),
    "resolve": N_("Resolved: the resident is told the outcome."),
    "reject": N_("Rejected: the resident is told the reason."),
    "duplicate": N_("Marked as a duplicate: the resident is told."),
    "published": N_("The verdict is written as a rumour-check post on your page."),
}
VERDICT_GIVEN = N_(
    "Verdict given: every open tip of this rumour is resolved. Residents answered: {count}."
)
# What the verdict form says about a refused input (the service's messages are English).
VERDICT_REFUSALS = {
    "verdict": N_("Choose one of the verdicts."),
    "explanation": N_("Explain the verdict in a sentence, as residents will read it."),
    "too_long": N_("The explanation is too long: at most {count} characters."),
    "tip": N_("Only a rumour check gets a verdict."),
}
# A refused action, as the officer should read it.
CONFLICTS = {
    "ack": N_("Someone acknowledged this tip meanwhile; nothing was changed."),
    "take": N_(
        "This tip was changed meanwhile (it is closed, or already yours); nothing was changed."
    ),
}
CHANGED = N_("This tip was changed meanwhile; look at it again. Nothing was changed.")
EVENT_LABELS = {
    "created": N_("Received"),
    "status": N_("Status changed"),
    "replied": N_("Replied to the resident"),
    "noted": N_("Note added"),
    "escalated": N_("Escalated as overdue"),
    "resident_added": N_("The resident added to the tip"),
}
MAX_REF = 20


def _desk(request: web.Request) -> Tips:
    return Tips(request.config_dict[keys.KEYRING])


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _tip_path(reference: str) -> str:
    return f"/admin/tips/T-{reference}"


def _reference(request: web.Request) -> str:
    ref = request.match_info["reference"]
    if not ref or len(ref) > MAX_REF:
        raise NotFound("not found")
    return ref


# --- the board ---------------------------------------------------------------------------------


async def board(
    request: web.Request, *, message: str | None = None, error: str | None = None, status: int = 200
) -> web.StreamResponse:
    days = tipdesk.period_of(request.query.get("days"))
    rows = await tipdesk.board(current_of(request).staff, days)
    return await render(
        request,
        "admin/tips_board.html",
        {
            "rows": rows,
            "days": days,
            "periods": tipdesk.BOARD_PERIODS,
            "message": message or _reminded_text(request),
            "error": error,
        },
        status=status,
    )


def _reminded_text(request: web.Request) -> str | None:
    people = request.query.get("reminded", "")
    if not people.isdigit():
        return None
    if people == "0":
        return translate(request, _("Nobody of that station could be reached in a bot."))
    return translate(
        request, _("The station was reminded: {count} officers in their bot."), count=int(people)
    )


async def board_page(request: web.Request) -> web.StreamResponse:
    return await board(request)


async def remind(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    value = request.match_info["commune_id"]
    if not is_id(value):
        raise NotFound("not found")
    days = tipdesk.period_of(request.query.get("days"))
    try:
        done = await tipdesk.remind_station(staff, int(value), ip=client_ip(request))
    except Conflict:
        return await board(
            request,
            error=translate(
                request,
                _("This station was reminded less than 10 minutes ago; nothing was sent again."),
            ),
            status=429,
        )
    return redirect(f"/admin/board?days={days}&reminded={done.people}")


# --- the inbox ---------------------------------------------------------------------------------


def _inbox_filter(query: MultiMapping[Any]) -> tipdesk.InboxFilter:
    """The inbox's filters from a GET query, or from the export form that repeats them."""

    def value(name: str, default: str = "") -> str:
        found = query.get(name, default)
        return found.strip() if isinstance(found, str) else default

    commune = value("commune")
    if commune and not is_id(commune):
        raise NotFound("not found")
    page = value("page", "1")
    return tipdesk.InboxFilter(
        status=value("status"),
        category=value("category"),
        commune_id=int(commune) if commune else None,
        overdue=value("overdue") == "yes",
        anonymous=value("anonymous"),
        sort=value("sort", "newest") or "newest",
        page=int(page) if page.isdigit() and len(page) < 7 else 1,
    )


async def _unknown_filter(request: web.Request) -> web.StreamResponse:
    return await render(
        request,
        "admin/error.html",
        {"message": translate(request, _("This filter is not known."))},
        status=400,
    )


async def inbox_page(request: web.Request) -> web.StreamResponse:
    which = _inbox_filter(request.query)
    staff = current_of(request).staff
    try:
        found = await tipdesk.inbox(staff, which)
    except ValidationError:
        return await _unknown_filter(request)
    kept = {
        key: value
        for key, value in (
            ("status", which.status),
            ("category", which.category),
            ("commune", "" if which.commune_id is None else str(which.commune_id)),
            ("overdue", "yes" if which.overdue else ""),
            ("anonymous", which.anonymous),
            ("sort", which.sort if which.sort != "newest" else ""),
        )
        if value
    }

    def page_link(number: int) -> str:
        return "/admin/tips?" + urlencode({**kept, "page": str(number)})

    return await render(
        request,
        "admin/tips.html",
        {
            "inbox": found,
            "which": which,
            "previous": page_link(found.page - 1) if found.page > 1 else None,
            "next": page_link(found.page + 1) if found.page < found.pages else None,
            "statuses": [("open", N_("Open (any)"))]
            + [(status.value, TIP_STATUS_LABELS[status.value]) for status in TipStatus],
            "categories": [(c.value, TIP_CATEGORY_LABELS[c.value]) for c in TipCategory],
            "status_labels": TIP_STATUS_LABELS,
            "category_labels": TIP_CATEGORY_LABELS,
            "urgency_labels": TIP_URGENCY_LABELS,
            "tip_path": _tip_path,
            "kept": kept,
            "may_export": tipdesk.may_export(staff),
        },
    )


async def export(request: web.Request) -> web.StreamResponse:
    """The inbox's tips under the filters the form repeats, every page, as CSV."""
    which = _inbox_filter(await request.post())
    try:
        rows = await tipdesk.export_inbox(
            current_of(request).staff,
            which,
            tz=request.config_dict[keys.SETTINGS].tz,
            ip=client_ip(request),
        )
    except ValidationError:
        return await _unknown_filter(request)
    return csv_download(rows, "tips.csv")


# --- a tip's page ------------------------------------------------------------------------------


async def _tip_page(
    request: web.Request,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
    error_of: Callable[[tipdesk.TipPage], str] | None = None,
) -> web.StreamResponse:
    """The tip's page; ``typed`` is what a refused verdict form held, ``error_of`` an error
    that depends on what the page shows (asked again, so still in scope)."""
    settings = request.config_dict[keys.SETTINGS]
    page = await tipdesk.tip_page(
        request.config_dict[keys.KEYRING],
        current_of(request).staff,
        _reference(request),
        settings.public_base_url,
        ip=client_ip(request),
    )
    done = request.query.get("done", "")
    if message is None and done in DONE:
        message = translate(request, DONE[done])
    answered = request.query.get("answered", "")
    if message is None and done == "verdict" and answered.isdigit() and len(answered) < 7:
        message = translate(request, VERDICT_GIVEN, count=int(answered))
    if error_of is not None:
        error = error_of(page)
    tip = page.card.tip
    return await render(
        request,
        "admin/tips_page.html",
        {
            "page": page,
            "tip": tip,
            "reference": f"T-{tip.reference}",
            "path": "/admin/tips",
            "action_path": _tip_path(tip.reference),
            "is_open": tip.status in OPEN_TIP_STATUSES,
            "can_ack": tip.status is TipStatus.NEW,
            "can_take": tip.status
            in (TipStatus.NEW, TipStatus.ACKNOWLEDGED, TipStatus.IN_PROGRESS),
            "message": message,
            "error": error,
            "status_labels": TIP_STATUS_LABELS,
            "category_labels": TIP_CATEGORY_LABELS,
            "urgency_labels": TIP_URGENCY_LABELS,
            "event_labels": EVENT_LABELS,
            "fraud_labels": tipcards.FRAUD_LABELS,
            "directions": TipMessageDirection,
            "tip_path": _tip_path,
            "verdicts": [(value.value, VERDICT_LABELS[value]) for value in RumourVerdict],
            "verdict_labels": {value.value: label for value, label in VERDICT_LABELS.items()},
            "typed": typed or {},
            "explanation_max": MAX_EXPLANATION,
        },
        status=status,
    )


async def tip_page(request: web.Request) -> web.StreamResponse:
    return await _tip_page(request)


async def tip_action(request: web.Request) -> web.StreamResponse:
    """One of the officer's actions, through the same `Tips` method the bot calls."""
    staff = current_of(request).staff
    ref = _reference(request)
    action = request.match_info["action"]
    form = await request.post()
    text = _text(form, "text")
    desk = _desk(request)
    done = action
    try:
        if action == "ack":
            tip = await desk.acknowledge(staff, ref, source="web")
        elif action == "take":
            tip = await desk.take(staff, ref, source="web")
        elif action == "reply":
            reached = await desk.reply(staff, ref, text, source="web")
            done = "reply" if reached else "unreached"
            tip = None
        elif action == "note":
            tip = await desk.note(staff, ref, text, source="web")
        elif action == "resolve":
            tip = await desk.resolve(staff, ref, text, source="web")
        elif action == "reject":
            tip = await desk.reject(staff, ref, text, source="web")
        elif action == "duplicate":
            tip = await _duplicate(request, desk, ref, _text(form, "original"))
            if tip is None:
                return await _tip_page(
                    request,
                    error=translate(request, _("No tip with that reference in your unit.")),
                    status=400,
                )
        else:
            raise NotFound("not found")
    except Conflict:
        why = CONFLICTS.get(action, CHANGED)
        return await _tip_page(request, error=translate(request, why), status=409)
    except ValidationError as err:
        if err.field == "original":
            why = _("A tip cannot be a duplicate of itself.")
        elif err.field == "text" and not text.strip():
            why = _("Write the text first.")
        else:
            why = _("The text is too long: at most 4000 characters.")
        return await _tip_page(request, error=translate(request, why), status=400)
    where = _tip_path(tip.reference) if tip is not None else "/admin/tips/" + quote(ref, safe="-")
    return redirect(f"{where}?done={done}")


async def _duplicate(request: web.Request, desk: Tips, ref: str, original: str) -> Any:
    """Mark ``ref`` a duplicate of ``original``; None when ``original`` is no tip the officer
    may see (``ref`` itself out of scope stays a 404: the page is asked again)."""
    staff = current_of(request).staff
    if not original.strip() or len(original) > MAX_REF:
        return None
    try:
        return await desk.mark_duplicate(staff, ref, original, source="web")
    except NotFound:
        return None


# --- a rumour check: the verdict and its post --------------------------------------------------


async def verdict(request: web.Request) -> web.StreamResponse:
    """The verdict on a rumour-check tip's cluster: `rumours.give_verdict`, as the bot's
    "Give verdict"; it resolves every open tip of the rumour and answers each sender."""
    staff = current_of(request).staff
    ref = _reference(request)
    form = await request.post()
    typed = {"verdict": _text(form, "verdict"), "explanation": _text(form, "explanation")}
    try:
        _cluster, answered = await rumours.give_verdict(
            request.config_dict[keys.KEYRING],
            staff,
            ref,
            typed["verdict"],
            typed["explanation"],
            source="web",
        )
    except Conflict:
        why = translate(request, _("This rumour already has a verdict; nothing was changed."))
        return await _tip_page(request, error=why, status=409)
    except ValidationError as err:
        if err.field == "explanation" and typed["explanation"].strip():
            why = translate(request, VERDICT_REFUSALS["too_long"], count=MAX_EXPLANATION)
        else:
            why = translate(request, VERDICT_REFUSALS.get(err.field or "", CHANGED))
        return await _tip_page(request, error=why, status=400, typed=typed)
    return redirect(f"{_tip_path_of(ref)}?done=verdict&answered={answered}")


async def publish(request: web.Request) -> web.StreamResponse:
    """The decided rumour as a rumour-check post on the officer's page, once:
    `rumours.publish_verdict`, as the bot's "Publish"."""
    staff = current_of(request).staff
    ref = _reference(request)
    settings = request.config_dict[keys.SETTINGS]
    try:
        await rumours.publish_verdict(
            staff, ref, request.config_dict[keys.I18N], settings, source="web"
        )
    except Conflict:

        def why(page: tipdesk.TipPage) -> str:
            if page.rumour is not None and page.rumour.decided:
                return translate(
                    request, _("This verdict is already written as a post; nothing was changed.")
                )
            return translate(request, _("This rumour has no verdict yet."))

        return await _tip_page(request, error_of=why, status=409)
    except NotFound:
        # Asked again: a tip outside the scope stays a 404; in scope, what is missing is a
        # page the officer may publish on.
        return await _tip_page(
            request,
            error=translate(request, _("There is no page in your area to publish this on.")),
            status=409,
        )
    return redirect(f"{_tip_path_of(ref)}?done=published")


def _tip_path_of(ref: str) -> str:
    return "/admin/tips/" + quote(ref, safe="-")


def setup_tips_routes(admin: web.Application) -> None:
    admin.router.add_get("/board", board_page, name="admin-board")
    admin.router.add_post("/board/{commune_id}/remind", remind, name="admin-board-remind")
    admin.router.add_get("/tips", inbox_page, name="admin-tips")
    admin.router.add_post("/tips/export", export, name="admin-tips-export")
    admin.router.add_get("/tips/{reference}", tip_page, name="admin-tip")
    # Before the officer actions' route, which would take "verdict" for an action name.
    admin.router.add_post("/tips/{reference}/verdict", verdict, name="admin-tip-verdict")
    admin.router.add_post("/tips/{reference}/publish", publish, name="admin-tip-publish")
    admin.router.add_post("/tips/{reference}/{action}", tip_action, name="admin-tip-action")
