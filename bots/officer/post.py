"""Writing a post from the bot: ``/post`` (``/dangtin``).

The officer chooses the page (skipped when they have one), the category, types the title and
the text, may send a photo, and chooses when: now, a date and time typed as
``dd/mm/yyyy hh:mm`` (Vietnam's time), or a weekly or daily preset. A summary with Confirm and
Cancel comes last; Confirm creates and submits the post in one go (`officers.write_post`) and
says whether it is scheduled — and when — or waits for a supervisor's approval.

The photo is only noted when it arrives (its platform reference); it is fetched at Confirm, so
nothing is downloaded for a post that is cancelled. Buttons carry short ids (``op:cat:health``,
``op:page:12``); a button of a finished or abandoned post says so instead of acting.
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
    parse_moment,
    services,
    when,
)
from bots.resident.menu import excerpt
from communepol.clock import utcnow
from communepol.db.models import Page, Post, PostCategory, PostStatus, ScheduleKind, Staff
from communepol.errors import CommunepolError
from communepol.i18n import N_, POST_CATEGORY_LABELS
from communepol.ports import Button, InboundKind, Media, MediaKind
from communepol.services import officers, posts
from communepol.services.posts import PostInput, Translation
from communepol.text import clean, clean_message, fold

router = Router()

FLOW = f"{FLOW_PREFIX}post"
PAGE, CATEGORY, TITLE, BODY, PHOTO, WHEN, AT, SUMMARY = (
    "page",
    "category",
    "title",
    "body",
    "photo",
    "when",
    "at",
    "summary",
)

# The recurring choices, each an explicit cron expression in Vietnam's time.
PRESETS: dict[str, tuple[str, str]] = {
    "daily": ("0 7 * * *", N_("Every day at 07:00")),
    "weekly": ("0 7 * * mon", N_("Every Monday at 07:00")),
}
_FILE_TYPES = ("image/", "application/pdf")


def _cancel(turn: Turn) -> list[Button]:
    return cancel_row(turn, "op:cancel")


@router.command("post", "dangtin")
@for_staff
async def start(turn: Turn, staff: Staff) -> None:
    turn.end()
    pages = await officers.pages_in_scope(staff)
    if not pages:
        turn.say(turn.gettext("There is no page in your area to post on."))
        return
    if len(pages) == 1:
        _ask_category(turn, pages[0])
        return
    _offer_pages(turn, pages)


def _offer_pages(turn: Turn, pages: list[Page]) -> None:
    turn.go(FLOW, PAGE)
    text = turn.gettext("Which page is the post for?")
    if len(pages) > MAX_BUTTONS:
        text += "\n" + turn.gettext("Not in the list? Type a part of the page's name.")
    turn.say(
        text,
        buttons=[
            *([Button(page.title, f"op:page:{page.id}")] for page in pages[:MAX_BUTTONS]),
            _cancel(turn),
        ],
    )


def _ask_category(turn: Turn, page: Page) -> None:
    turn.go(FLOW, CATEGORY, page=page.id, page_title=page.title)
    labels = [
        Button(turn.gettext(POST_CATEGORY_LABELS[category.value]), f"op:cat:{category.value}")
        for category in PostCategory
    ]
    turn.say(
        turn.gettext("Post on {page}. Which category?", page=page.title),
        buttons=[*(labels[i : i + 2] for i in range(0, len(labels), 2)), _cancel(turn)],
    )


def _ask_title(turn: Turn) -> None:
    turn.go(FLOW, TITLE)
    turn.say(
        turn.gettext(
            "Type the title (one line, at most {limit} characters).", limit=posts.TITLE_MAX
        ),
        buttons=[_cancel(turn)],
    )


def _ask_body(turn: Turn) -> None:
    turn.go(FLOW, BODY)
    turn.say(turn.gettext("Now type the text of the post."), buttons=[_cancel(turn)])


def _ask_photo(turn: Turn) -> None:
    turn.go(FLOW, PHOTO)
    turn.say(
        turn.gettext("Send a photo for the post now, or press “No photo”."),
        buttons=[[Button(turn.gettext("No photo"), "op:nophoto")], _cancel(turn)],
    )


def _ask_when(turn: Turn) -> None:
    turn.go(FLOW, WHEN)
    turn.say(
        turn.gettext(
            "When should it be published? You can also type a date and time, for example "
            "25/12/2026 07:30 (Vietnam time)."
        ),
        buttons=[
            [Button(turn.gettext("Now"), "op:when:now")],
            [Button(turn.gettext("At a date and time"), "op:when:at")],
            *(
                [Button(turn.gettext(label), f"op:when:{key}")]
                for key, (_, label) in PRESETS.items()
            ),
            _cancel(turn),
        ],
    )


def _schedule_text(turn: Turn) -> str:
    schedule = turn.data.get("schedule")
    if schedule == "once":
        return when(turn, datetime.fromisoformat(turn.data["at"]))
    if schedule in PRESETS:
        return turn.gettext(PRESETS[schedule][1])
    return turn.gettext("Now")


def _summary(turn: Turn) -> None:
    turn.go(FLOW, SUMMARY)
    data = turn.data
    label = POST_CATEGORY_LABELS[data["category"]]
    category = turn.gettext(label)
    turn.say(
        lines(
            turn.gettext("Check the post:"),
            turn.gettext("Page: {page}", page=data["page_title"]),
            turn.gettext("Category: {category}", category=category),
            turn.gettext("Title: {title}", title=data["title"]),
            turn.gettext("Text: {text}", text=excerpt(data["body"])),
            turn.gettext("Photo: yes") if data.get("media") else turn.gettext("Photo: none"),
            turn.gettext("When: {when}", when=_schedule_text(turn)),
            turn.gettext(
                "Every household must hear it: yes (shared household accounts confirm each "
                "household they tell)"
            )
            if data.get("reach")
            else turn.gettext("Every household must hear it: no"),
        ),
        buttons=[
            *confirm_buttons(turn, "op"),
            [
                Button(
                    turn.gettext("Not every household")
                    if data.get("reach")
                    else turn.gettext("Every household must hear it"),
                    "op:reach",
                )
            ],
        ],
    )


@router.action("op")
@for_staff
async def pressed(turn: Turn, staff: Staff) -> None:
    """The post's buttons: ``op:page:<id>``, ``op:cat:<category>``, ``op:nophoto``,
    ``op:when:<now|at|daily|weekly>``, ``op:reach`` (every household must hear it, or not),
    ``op:confirm``, ``op:cancel``."""
    _, _, rest = (turn.event.action or "").partition(":")
    kind, _, value = rest.partition(":")
    if kind == "cancel":
        turn.end()
        turn.say(turn.gettext("Cancelled: nothing was posted."))
        return
    if turn.flow != FLOW:
        turn.say(turn.gettext("This post is no longer being written. Type /post to start again."))
        return
    if kind == "page" and value.isdigit():
        _ask_category(turn, await officers.page_in_scope(staff, int(value)))
    elif kind == "cat" and value in POST_CATEGORY_LABELS and turn.step == CATEGORY:
        turn.data["category"] = value
        _ask_title(turn)
    elif kind == "nophoto" and turn.step == PHOTO:
        turn.data.pop("media", None)
        _after_photo(turn)
    elif kind == "when" and turn.step in (WHEN, AT):
        _when_chosen(turn, value)
    elif kind == "reach" and turn.step == SUMMARY:
        turn.data["reach"] = not turn.data.get("reach")
        _summary(turn)
    elif kind == "confirm" and turn.step == SUMMARY:
        await _confirm(turn, staff)
    else:
        turn.say(turn.gettext("This question has passed. Answer the last one, or press Cancel."))


def _when_chosen(turn: Turn, value: str) -> None:
    if value == "at":
        turn.go(FLOW, AT)
        turn.say(
            turn.gettext("Type the date and time, for example 25/12/2026 07:30 (Vietnam time)."),
            buttons=[_cancel(turn)],
        )
        return
    if value == "now" or value in PRESETS:
        turn.data["schedule"] = value if value in PRESETS else "now"
        turn.data.pop("at", None)
        _summary(turn)
        return
    _ask_when(turn)


@router.step(FLOW, PAGE)
@for_staff
async def page_typed(turn: Turn, staff: Staff) -> None:
    name = fold(turn.event.text or "")
    pages = [
        page for page in await officers.pages_in_scope(staff) if name and name in fold(page.title)
    ]
    if len(pages) == 1:
        _ask_category(turn, pages[0])
        return
    if not pages:
        turn.say(turn.gettext("No page of yours is called that. Type another part of its name."))
        return
    _offer_pages(turn, pages)


@router.step(FLOW, CATEGORY)
@for_staff
async def category_typed(turn: Turn, staff: Staff) -> None:
    turn.say(turn.gettext("Choose the category with a button."))


@router.step(FLOW, TITLE)
@for_staff
async def title_typed(turn: Turn, staff: Staff) -> None:
    title = clean(turn.event.text or "")
    if not title:
        _ask_title(turn)
        return
    if len(title) > posts.TITLE_MAX:
        turn.say(
            turn.gettext(
                "The title is too long: {length} characters, at most {limit}. Type a shorter one.",
                length=len(title),
                limit=posts.TITLE_MAX,
            )
        )
        return
    turn.data["title"] = title
    _ask_body(turn)


@router.step(FLOW, BODY)
@for_staff
async def body_typed(turn: Turn, staff: Staff) -> None:
    body = clean_message(turn.event.text or "")
    if not body:
        _ask_body(turn)
        return
    if len(body) > posts.BODY_MAX:
        turn.say(
            turn.gettext(
                "The text is too long: {length} characters, at most {limit}. Shorten it and "
                "send it again.",
                length=len(body),
                limit=posts.BODY_MAX,
            )
        )
        return
    turn.data["body"] = body
    _ask_photo(turn)


@router.step(FLOW, PHOTO)
@for_staff
async def photo_sent(turn: Turn, staff: Staff) -> None:
    media = _usable(turn.event.media) if turn.event.kind is InboundKind.MEDIA else None
    if media is None:
        turn.say(
            turn.gettext("That is not a photo. Send a photo, or press “No photo”."),
            buttons=[[Button(turn.gettext("No photo"), "op:nophoto")], _cancel(turn)],
        )
        return
    turn.data["media"] = {key: value for key, value in asdict(media).items() if value is not None}
    _after_photo(turn)


def _usable(media: tuple[Media, ...]) -> Media | None:
    """The first photo (or image or PDF sent as a file) among what arrived."""
    for item in media:
        if item.kind is MediaKind.PHOTO:
            return item
        if item.kind is MediaKind.FILE and (item.mime_type or "").startswith(_FILE_TYPES):
            return item
    return None


def _after_photo(turn: Turn) -> None:
    if turn.data.get("schedule"):  # back here after a photo could not be fetched
        _summary(turn)
    else:
        _ask_when(turn)


@router.step(FLOW, WHEN)
@router.step(FLOW, AT)
@for_staff
async def time_typed(turn: Turn, staff: Staff) -> None:
    tz = services(turn).settings.tz
    moment = parse_moment(turn.event.text or "", tz)
    if moment is None:
        turn.say(
            turn.gettext(
                "I could not read that time. Type it as day/month/year hours:minutes, for "
                "example 25/12/2026 07:30."
            ),
            buttons=[_cancel(turn)],
        )
        return
    if moment <= utcnow():
        turn.say(
            turn.gettext("That time has passed. Type a time to come."), buttons=[_cancel(turn)]
        )
        return
    turn.data["schedule"] = "once"
    turn.data["at"] = moment.isoformat()
    _summary(turn)


@router.step(FLOW, SUMMARY)
@for_staff
async def summary_typed(turn: Turn, staff: Staff) -> None:
    turn.say(turn.gettext("Press Confirm to publish it, or Cancel."))


def _input(data: dict[str, Any], locale: str) -> PostInput:
    schedule = data.get("schedule", "now")
    common: dict[str, Any] = {
        "category": data["category"],
        "translations": [Translation(locale, data["title"], data["body"])],
        "must_reach_every_household": bool(data.get("reach")),
    }
    if schedule == "once":
        return PostInput(
            **common, schedule=ScheduleKind.ONCE, at=datetime.fromisoformat(data["at"])
        )
    if schedule in PRESETS:
        return PostInput(**common, schedule=ScheduleKind.CRON, cron=PRESETS[schedule][0])
    return PostInput(**common)


async def _confirm(turn: Turn, staff: Staff) -> None:
    settings = services(turn).settings
    page = await officers.page_in_scope(staff, int(turn.data["page"]))
    photo: tuple[bytes, str] | None = None
    stored = turn.data.get("media")
    if stored:
        media = Media(**{**stored, "kind": MediaKind(stored["kind"])})
        try:
            data = await turn.download(media, max_bytes=posts.ATTACHMENT_MAX_BYTES)
        except CommunepolError as err:
            turn.go(FLOW, PHOTO)
            turn.say(
                turn.gettext(
                    "I could not fetch the photo ({reason}). Send it again, or press “No photo”.",
                    reason=turn.error_text(err),
                ),
                buttons=[[Button(turn.gettext("No photo"), "op:nophoto")], _cancel(turn)],
            )
            return
        photo = (data, media.name or "photo")
    # The post is written in the page's language: that is what its followers read.
    post = await officers.write_post(
        staff, page.id, _input(turn.data, page.default_locale), settings, photo=photo
    )
    turn.end()
    turn.say(_outcome(turn, post))


def _outcome(turn: Turn, post: Post) -> str:
    if post.status is PostStatus.PENDING_APPROVAL:
        return turn.gettext(
            "Post #{id} is saved and waits for a supervisor's approval.", id=post.id
        )
    if post.schedule_kind is ScheduleKind.NOW:
        return turn.gettext(
            "Post #{id} is being published: its followers receive it in the next minutes. "
            "Type /stats to see how the sending goes.",
            id=post.id,
        )
    next_run = post.next_run_at
    if post.schedule_kind is ScheduleKind.CRON:
        return turn.gettext(
            "Post #{id} is scheduled ({schedule}); the first time is {when}.",
            id=post.id,
            schedule=turn.gettext(_preset_label(post.cron_expression)),
            when=when(turn, next_run) if next_run else "",
        )
    return turn.gettext(
        "Post #{id} is scheduled for {when}.",
        id=post.id,
        when=when(turn, next_run) if next_run else "",
    )


def _preset_label(cron: str | None) -> str:
    for expression, label in PRESETS.values():
        if expression == cron:
            return label
    return cron or ""
