"""Alerts from the bot: ``/alert`` (``/canhbao``) to send one, ``/found`` (``/timthay``) to end
one, ``/update`` (``/capnhat``) to send a new headline and text to its recipients.

Sending asks the category (missing person, fraud warning, crime warning, other), the headline
and the description; for a missing person also the name, where and when they were last seen;
then a phone number to call — each of those with a Skip button. The targets are the officer's
own commune's pages; a supervisor chooses their whole unit or one page. A summary with Confirm
and Cancel comes last; Confirm creates and sends it (`officers.issue_alert`): one commune's
alert goes out at once, an alert over several communes waits for a second person
(``/approve``). Buttons carry short ids (``oa:cat:fraud_warning``, ``oe:12``).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from bots.conversation import Router, Turn
from bots.officer.common import (
    FLOW_PREFIX,
    MAX_BUTTONS,
    cancel_row,
    confirm_buttons,
    for_staff,
    lines,
    number,
    parse_moment,
    reference,
    services,
    when,
)
from bots.resident.menu import excerpt
from communepol.db.models import Alert, AlertStatus, PostCategory, Staff, UnitLevel
from communepol.errors import CommunepolError, ValidationError
from communepol.i18n import N_, POST_CATEGORY_LABELS
from communepol.ports import Button, InboundKind, Media, MediaKind
from communepol.services import alerts, officers
from communepol.services.alerts import HEADLINE_MAX, PHOTO_MAX_BYTES, AlertInput, Alerts
from communepol.services.staff import normalize_phone
from communepol.text import clean, clean_message

router = Router()

FLOW = f"{FLOW_PREFIX}alert"
END_FLOW = f"{FLOW_PREFIX}alert-end"
UPDATE_FLOW = f"{FLOW_PREFIX}alert-update"
CATEGORY, HEADLINE, DESCRIPTION, NAME, PLACE, SEEN, PHOTO, PHONE, TARGET, SUMMARY = (
    "category",
    "headline",
    "description",
    "name",
    "place",
    "seen",
    "photo",
    "phone",
    "target",
    "summary",
)
NOTE = "note"

OTHER = PostCategory.ANNOUNCEMENT.value  # "other" is an announcement: PostCategory has no other
CATEGORIES: tuple[tuple[str, str], ...] = (
    (PostCategory.MISSING_PERSON.value, POST_CATEGORY_LABELS["missing_person"]),
    (PostCategory.FRAUD_WARNING.value, POST_CATEGORY_LABELS["fraud_warning"]),
    (PostCategory.CRIME_WARNING.value, POST_CATEGORY_LABELS["crime_warning"]),
    (OTHER, N_("Other")),
)
_LABELS = dict(CATEGORIES)

# The optional questions, in order: the stored field and what is asked.
_QUESTIONS: dict[str, tuple[str, str]] = {
    NAME: ("subject_name", N_("The missing person's name?")),
    PLACE: ("last_seen_place", N_("Where were they last seen?")),
    SEEN: (
        "last_seen_at",
        N_("When were they last seen? For example 25/12/2026 17:30, or 17:30 for today."),
    ),
    PHOTO: ("photo", N_("Send a photo of the person: it helps people recognise them.")),
    PHONE: ("contact_phone", N_("Which phone number should people call?")),
}


def _cancel(turn: Turn) -> list[Button]:
    return cancel_row(turn, "oa:cancel")


@router.command("alert", "canhbao")
@for_staff
async def start(turn: Turn, staff: Staff) -> None:
    turn.end()
    turn.go(FLOW, CATEGORY)
    turn.say(
        turn.gettext("A new alert. What is it about?"),
        buttons=[
            *([Button(turn.gettext(label), f"oa:cat:{value}")] for value, label in CATEGORIES),
            _cancel(turn),
        ],
    )


def _ask(turn: Turn, step: str) -> None:
    turn.go(FLOW, step)
    if step == HEADLINE:
        turn.say(
            turn.gettext(
                "Type the headline: what residents must know first, in one line (at most "
                "{limit} characters).",
                limit=HEADLINE_MAX,
            ),
            buttons=[_cancel(turn)],
        )
    elif step == DESCRIPTION:
        turn.say(
            turn.gettext("Describe it: what happened, what to look out for, what to do."),
            buttons=[_cancel(turn)],
        )
    else:
        turn.say(
            turn.gettext(_QUESTIONS[step][1]),
            buttons=[[Button(turn.gettext("Skip"), f"oa:skip:{step}")], _cancel(turn)],
        )


def _next_after(turn: Turn, step: str) -> str:
    """The question after ``step``: the person's details only for a missing person."""
    order = [HEADLINE, DESCRIPTION]
    if turn.data.get("category") == PostCategory.MISSING_PERSON.value:
        order += [NAME, PLACE, SEEN, PHOTO]
    order += [PHONE, TARGET]
    return order[order.index(step) + 1]


async def _advance(turn: Turn, staff: Staff, step: str) -> None:
    following = _next_after(turn, step)
    if following == TARGET:
        await _ask_target(turn, staff)
    else:
        _ask(turn, following)


async def _ask_target(turn: Turn, staff: Staff) -> None:
    unit = await officers.unit_of(staff)
    if unit.level in (UnitLevel.COMMUNE, UnitLevel.HAMLET):
        # An officer's alert is for their own commune: every page of it.
        turn.data["target"] = "unit"
        await _summary(turn, staff)
        return
    turn.go(FLOW, TARGET)
    pages = await officers.pages_in_scope(staff)
    turn.say(
        turn.gettext("Which pages should it reach?"),
        buttons=[
            [Button(turn.gettext("All pages of {unit}", unit=unit.name), "oa:to:all")],
            *([Button(page.title, f"oa:to:{page.id}")] for page in pages[:MAX_BUTTONS]),
            _cancel(turn),
        ],
    )


async def _targets(turn: Turn, staff: Staff) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """The pages and units the alert is for, and how the summary names them."""
    target = turn.data.get("target")
    if isinstance(target, int):
        page = await officers.page_in_scope(staff, target)
        return (page.id,), (), page.title
    unit = await officers.unit_of(staff)
    return (), (unit.id,), turn.gettext("All pages of {unit}", unit=unit.name)


def _input(data: dict[str, Any], pages: tuple[int, ...], units: tuple[int, ...]) -> AlertInput:
    seen = data.get("last_seen_at")
    return AlertInput(
        category=data["category"],
        headline=data["headline"],
        description=data["description"],
        subject_name=data.get("subject_name"),
        last_seen_place=data.get("last_seen_place"),
        last_seen_at=datetime.fromisoformat(seen) if seen else None,
        contact_phone=data.get("contact_phone"),
        pages=pages,
        units=units,
    )


def _photo_line(turn: Turn) -> str | None:
    if turn.data.get("category") != PostCategory.MISSING_PERSON.value:
        return None
    return turn.gettext("Photo: yes") if turn.data.get("photo") else turn.gettext("Photo: none")


async def _summary(turn: Turn, staff: Staff) -> None:
    turn.go(FLOW, SUMMARY)
    data = turn.data
    _, _, reach = await _targets(turn, staff)
    seen = data.get("last_seen_at")
    label = _LABELS[data["category"]]
    turn.say(
        lines(
            turn.gettext("Check the alert:"),
            turn.gettext("Category: {category}", category=turn.gettext(label)),
            turn.gettext("Headline: {headline}", headline=data["headline"]),
            turn.gettext("Text: {text}", text=excerpt(data["description"])),
            data.get("subject_name") and turn.gettext("Name: {name}", name=data["subject_name"]),
            data.get("last_seen_place")
            and turn.gettext("Last seen at: {place}", place=data["last_seen_place"]),
            seen
            and turn.gettext("Last seen: {when}", when=when(turn, datetime.fromisoformat(seen))),
            data.get("contact_phone")
            and turn.gettext("Call: {phone}", phone=data["contact_phone"]),
            _photo_line(turn),
            turn.gettext("Reaches: {pages}", pages=reach),
        ),
        buttons=confirm_buttons(turn, "oa"),
    )


@router.action("oa")
@for_staff
async def pressed(turn: Turn, staff: Staff) -> None:
    """The alert's buttons: ``oa:cat:<category>``, ``oa:skip:<question>``,
    ``oa:to:<all|page id>``, ``oa:confirm``, ``oa:cancel``."""
    _, _, rest = (turn.event.action or "").partition(":")
    kind, _, value = rest.partition(":")
    if kind == "cancel":
        turn.end()
        turn.say(turn.gettext("Cancelled: no alert was sent."))
        return
    if turn.flow != FLOW:
        turn.say(turn.gettext("This alert is no longer being written. Type /alert to start again."))
        return
    if kind == "cat" and value in _LABELS and turn.step == CATEGORY:
        turn.data["category"] = value
        _ask(turn, HEADLINE)
    elif kind == "skip" and value == turn.step and value in _QUESTIONS:
        turn.data.pop(_QUESTIONS[value][0], None)
        await _advance(turn, staff, value)
    elif kind == "to" and turn.step == TARGET and (value == "all" or value.isdigit()):
        if value.isdigit():
            await officers.page_in_scope(staff, int(value))  # else "not found", here and now
        turn.data["target"] = "all" if value == "all" else int(value)
        await _summary(turn, staff)
    elif kind == "confirm" and turn.step == SUMMARY:
        await _confirm(turn, staff)
    else:
        turn.say(turn.gettext("This question has passed. Answer the last one, or press Cancel."))


@router.step(FLOW, CATEGORY)
@router.step(FLOW, TARGET)
@router.step(FLOW, SUMMARY)
@for_staff
async def press_a_button(turn: Turn, staff: Staff) -> None:
    turn.say(turn.gettext("Answer with one of the buttons."))


@router.step(FLOW, HEADLINE)
@for_staff
async def headline_typed(turn: Turn, staff: Staff) -> None:
    headline = clean(turn.event.text or "")
    if not headline:
        _ask(turn, HEADLINE)
        return
    if len(headline) > HEADLINE_MAX:
        turn.say(
            turn.gettext(
                "The headline is too long: {length} characters, at most {limit}. Type a "
                "shorter one.",
                length=len(headline),
                limit=HEADLINE_MAX,
            )
        )
        return
    turn.data["headline"] = headline
    _ask(turn, DESCRIPTION)


@router.step(FLOW, DESCRIPTION)
@for_staff
async def description_typed(turn: Turn, staff: Staff) -> None:
    description = clean_message(turn.event.text or "")
    if not description:
        _ask(turn, DESCRIPTION)
        return
    if len(description) > alerts.TEXT_MAX:
        turn.say(
            turn.gettext(
                "The text is too long: {length} characters, at most {limit}. Shorten it and "
                "send it again.",
                length=len(description),
                limit=alerts.TEXT_MAX,
            )
        )
        return
    turn.data["description"] = description
    await _advance(turn, staff, DESCRIPTION)


@router.step(FLOW, PHOTO)
@for_staff
async def photo_sent(turn: Turn, staff: Staff) -> None:
    """A photo of the missing person (downloaded when the alert is confirmed)."""
    photo = next((m for m in turn.event.media if m.kind is MediaKind.PHOTO), None)
    if turn.event.kind is not InboundKind.MEDIA or photo is None:
        _ask(turn, PHOTO)
        return
    turn.data["photo"] = {k: v for k, v in asdict(photo).items() if v is not None}
    await _advance(turn, staff, PHOTO)


async def _fetch_photo(turn: Turn) -> bytes | None:
    """The photo's bytes; None after telling the officer it could not be fetched."""
    stored = turn.data["photo"]
    media = Media(**{**stored, "kind": MediaKind(stored["kind"])})
    try:
        return await turn.download(media, max_bytes=PHOTO_MAX_BYTES)
    except CommunepolError as err:
        turn.go(FLOW, PHOTO)
        turn.say(
            turn.gettext(
                "I could not fetch the photo ({reason}). Send it again, or press “No photo”.",
                reason=turn.error_text(err),
            ),
            buttons=[[Button(turn.gettext("No photo"), f"oa:skip:{PHOTO}")], _cancel(turn)],
        )
        return None


@router.step(FLOW, NAME)
@router.step(FLOW, PLACE)
@router.step(FLOW, SEEN)
@router.step(FLOW, PHONE)
@for_staff
async def detail_typed(turn: Turn, staff: Staff) -> None:
    step = turn.step
    text = clean(turn.event.text or "")
    if not text:
        _ask(turn, step)
        return
    value: str | None = text[:300]
    if step == SEEN:
        moment = parse_moment(text, services(turn).settings.tz, today_allowed=True)
        value = moment.isoformat() if moment else None
    elif step == PHONE:
        try:
            value = normalize_phone(text)
        except ValidationError:
            value = None
    if value is None:
        turn.say(
            turn.gettext("I could not read that. Type it again, or press Skip."),
            buttons=[[Button(turn.gettext("Skip"), f"oa:skip:{step}")], _cancel(turn)],
        )
        return
    turn.data[_QUESTIONS[step][0]] = value
    await _advance(turn, staff, step)


async def _confirm(turn: Turn, staff: Staff) -> None:
    pages, units, _ = await _targets(turn, staff)
    photo = None
    if turn.data.get("photo"):
        photo = await _fetch_photo(turn)
        if photo is None:
            return
    service = Alerts(services(turn).settings, turn.i18n)
    alert = await officers.issue_alert(staff, _input(turn.data, pages, units), service, photo=photo)
    turn.end()
    if alert.status is AlertStatus.PENDING_APPROVAL:
        turn.say(
            turn.gettext(
                "Alert #{id} reaches pages of several communes: it waits for a second "
                "person's approval (/approve) before it goes out.",
                id=alert.id,
            )
        )
        return
    turn.say(
        turn.gettext(
            "Alert #{id} is going out to {count} pages. When it is over, end it with the button "
            "or /found {id}.",
            id=alert.id,
            count=await officers.page_count(alert),
        ),
        buttons=[[Button(turn.gettext("End alert #{id}", id=alert.id), f"oe:{alert.id}")]],
    )


# -- ending an alert ----------------------------------------------------------------------


@router.command("found", "timthay", "ketthuc")
@for_staff
async def found(turn: Turn, staff: Staff) -> None:
    alert_id = number(turn.event.args)
    if alert_id is not None:
        await _ask_note(turn, staff, alert_id)
        return
    turn.end()
    live = await officers.live_alerts(staff)
    if not live:
        turn.say(turn.gettext("No alert in your area is active."))
        return
    turn.say(
        turn.gettext("Which alert has ended?"),
        buttons=[[Button(_alert_label(alert), f"oe:{alert.id}")] for alert in live],
    )


def _alert_label(alert: Alert) -> str:
    return f"#{alert.id} {alert.headline}"[:60]


async def _ask_note(turn: Turn, staff: Staff, alert_id: int) -> None:
    alert = await alerts.get_alert(staff, alert_id)  # NotFound outside the scope
    turn.end()
    turn.go(END_FLOW, NOTE, alert=alert.id)
    turn.say(
        turn.gettext(
            "Ending alert #{id}: {headline}\nType a short note for the residents (for example "
            "“The child has been found. Thank you for your help.”), or press “No note”.",
            id=alert.id,
            headline=alert.headline,
        ),
        buttons=[
            [Button(turn.gettext("No note"), f"oe:{alert.id}:end")],
            [Button(turn.gettext("Cancel"), f"oe:{alert.id}:keep")],
        ],
    )


@router.action("oe")
@for_staff
async def end_pressed(turn: Turn, staff: Staff) -> None:
    """``oe:<id>``: end this alert (asks for a note); ``oe:<id>:end``: end it without one;
    ``oe:<id>:keep``: do not end it."""
    alert_id = reference(turn.event.action, 1)
    answer = (turn.event.action or "").split(":")[2:]
    if alert_id is None:
        return
    if not answer:
        await _ask_note(turn, staff, alert_id)
    elif answer == ["keep"]:
        turn.end()
        turn.say(turn.gettext("The alert stays active."))
    elif answer == ["end"] and turn.flow == END_FLOW and turn.data.get("alert") == alert_id:
        await _end(turn, staff, alert_id, "")
    else:
        turn.say(turn.gettext("This question has passed. Answer the last one, or press Cancel."))


@router.step(END_FLOW, NOTE)
@for_staff
async def note_typed(turn: Turn, staff: Staff) -> None:
    note = clean_message(turn.event.text or "")
    alert_id = turn.data.get("alert")
    if not note or not isinstance(alert_id, int):
        turn.say(turn.gettext("Type the note, or press “No note”."))
        return
    await _end(turn, staff, alert_id, note[: alerts.TEXT_MAX])


async def _end(turn: Turn, staff: Staff, alert_id: int, note: str) -> None:
    service = Alerts(services(turn).settings, turn.i18n)
    turn.end()
    await service.cancel(staff, alert_id, note, source="bot")
    turn.say(turn.gettext("Alert #{id} has ended: everyone it reached is told.", id=alert_id))


# -- updating an alert --------------------------------------------------------------------


@router.command("update", "capnhat")
@for_staff
async def update(turn: Turn, staff: Staff) -> None:
    alert_id = number(turn.event.args)
    if alert_id is None:
        turn.say(
            turn.gettext("Type /update followed by the alert's number, for example /update 12.")
        )
        return
    alert = await alerts.get_alert(staff, alert_id)  # NotFound outside the scope
    if alert.status is not AlertStatus.ACTIVE:
        turn.say(turn.gettext("Alert #{id} is not active: it cannot be updated.", id=alert.id))
        return
    turn.end()
    turn.go(UPDATE_FLOW, HEADLINE, alert=alert.id)
    turn.say(
        turn.gettext(
            "Updating alert #{id}: {headline}\nType the new headline.",
            id=alert.id,
            headline=alert.headline,
        ),
        buttons=[[Button(turn.gettext("Cancel"), f"oe:{alert.id}:keep")]],
    )


@router.step(UPDATE_FLOW, HEADLINE)
@for_staff
async def update_headline(turn: Turn, staff: Staff) -> None:
    headline = clean(turn.event.text or "")
    if not headline or len(headline) > HEADLINE_MAX:
        turn.say(
            turn.gettext("Type the new headline (at most {limit} characters).", limit=HEADLINE_MAX)
        )
        return
    turn.go(UPDATE_FLOW, DESCRIPTION, headline=headline)
    turn.say(turn.gettext("Now type the new text: what has changed, what to do now."))


@router.step(UPDATE_FLOW, DESCRIPTION)
@for_staff
async def update_description(turn: Turn, staff: Staff) -> None:
    description = clean_message(turn.event.text or "")
    alert_id = turn.data.get("alert")
    if not description or not isinstance(alert_id, int):
        turn.say(turn.gettext("Now type the new text: what has changed, what to do now."))
        return
    original = await alerts.get_alert(staff, alert_id)
    service = Alerts(services(turn).settings, turn.i18n)
    data = AlertInput(
        category=original.category,
        headline=turn.data["headline"],
        description=description[: alerts.TEXT_MAX],
        subject_name=original.subject_name,
        last_seen_place=original.last_seen_place,
        last_seen_at=original.last_seen_at,
        contact_phone=original.contact_phone,
    )
    turn.end()
    await service.update(staff, alert_id, data, source="bot")
    turn.say(
        turn.gettext("The update of alert #{id} is going out to everyone it reached.", id=alert_id)
    )
