"""Tips from residents, on every platform: reporting something to the commune police, asking
a question about a procedure, asking whether a rumour is true; "my tips"; adding to a tip.

A tip (``/tip``, ``/baotin``, "báo tin", the menu's Report button, or the offer made for a
message that arrives outside any conversation) is collected step by step in the conversation
state and submitted once, on Send, to `Tips.submit`: the category, the commune (the page the
resident follows, one of several, or a name typed and matched among the communes), for fraud
the questions that let police call the bank at once, what happened, attachments, where, and
whether to stay anonymous — and, from a shared household account, which of its households the
tip is about (or the whole group). Each step asks for what is still missing (`_next`), so a message
kept from the offer, a photo sent early or a location shared at any step is not asked again.

Attachments are kept as the platform's references only: the tip service stores them as
pending and the media fetcher downloads them later, outside the conversation.

Button actions: ``tipc:<category>``, ``tipu:<unit id>`` / ``tipu:other``, ``tiph:<household
id>`` / ``tiph:all``, ``tipx:<verb>``
(skip, done, anon, named, send, cancel, and report / ask / rumour on the offer), and
``tipadd:<reference>`` — the button the service puts on officers' replies and status news —
after which the resident's next message is added to that tip.
"""

from __future__ import annotations

from typing import Any

from bots.conversation import Router, Turn
from bots.resident.common import channel_name, menu_buttons, not_understood, when
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    ContactKind,
    Tip,
    TipCategory,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import N_, TIP_CATEGORY_LABELS, TIP_STATUS_LABELS
from communepol.ports import Button, ButtonKind, InboundKind, Location, Media, MediaKind
from communepol.services import follows, householdgroups, tips, units
from communepol.services.tipcards import FRAUD_LABELS
from communepol.services.tips import FRAUD_FIELDS, MAX_ATTACHMENTS, MAX_TEXT, TipInput, Tips
from communepol.text import as_id, clean_message, fold

router = Router()

FLOW = "tip.new"
OFFER_FLOW = "tip.offer"
ADD_FLOW = "tip.add"

# The steps of a new tip, asked in this order (each only while its answer is missing).
CATEGORY = "category"
UNIT = "unit"
FRAUD = "fraud"
TEXT = "text"
FILES = "files"
PLACE = "place"
HOUSEHOLD = "household"  # a shared household account: which household
ANONYMITY = "anonymity"
CONFIRM = "confirm"
CHOOSE = "choose"  # the offer's only step
ADD = "add"  # adding to an existing tip

# Stored data (conversation state is JSON: plain values only).
_CATEGORY = "category"
_UNIT = "unit"
_TYPE_UNIT = "type_unit"  # the resident wants to type the commune's name
_FRAUD = "fraud"  # {"bank": …} answered so far
_FRAUD_ASKED = "fraud_asked"  # how many fraud questions have been answered or skipped
_TEXT = "text"
_MEDIA = "media"  # [{"kind", "ref", "name", "mime_type", "size"}]
_LOCATION = "location"  # {"latitude", "longitude", "title"}
_PLACE = "place"  # a place as typed
_DONE = "done"  # steps answered or skipped: "text", "files", "place"
_ANONYMOUS = "anonymous"
_HOUSEHOLD = "household"  # the household's id, or None for the whole group
_REFERENCE = "reference"  # the tip being added to

# The categories in the order the resident sees them.
CATEGORIES = (
    TipCategory.THEFT,
    TipCategory.DRUGS,
    TipCategory.GAMBLING,
    TipCategory.ILLEGAL_LENDING,
    TipCategory.FIGHT_WEAPONS,
    TipCategory.FRAUD,
    TipCategory.MISSING_PERSON,
    TipCategory.TRAFFIC,
    TipCategory.PUBLIC_ORDER,
    TipCategory.PROCEDURE_QUESTION,
    TipCategory.RUMOUR_CHECK,
    TipCategory.OTHER,
)
_CATEGORY_VALUES = frozenset(category.value for category in CATEGORIES)
# A question or a rumour happened nowhere in particular: no location step.
NO_PLACE = frozenset((TipCategory.PROCEDURE_QUESTION.value, TipCategory.RUMOUR_CHECK.value))
# Someone may be in danger now: 113 comes before any form.
DANGER = frozenset((TipCategory.FIGHT_WEAPONS.value, TipCategory.MISSING_PERSON.value))

MAX_UNIT_CHOICES = 5  # communes offered for a typed name
MAX_ADD_BUTTONS = 5  # "add information" buttons under "my tips"
EXCERPT = 300  # characters of the tip's text in the summary
MAX_PLACE = 300
MAX_HOUSEHOLDS = 12  # households offered as buttons

FRAUD_QUESTIONS = {
    "bank": N_(
        "Which bank or e-wallet did the money leave from? (for example Vietcombank, Agribank, MoMo)"
    ),
    "amount": N_("How much money was transferred?"),
    "transfer_time": N_("When was the money transferred? Give the date and time."),
    "accounts": N_(
        "Which account numbers were involved? Yours, and the one the money went to, with "
        "their banks if you know them."
    ),
}

_CANCEL_WORDS = frozenset(fold(word) for word in ("cancel", "hủy", "huỷ", "thôi", "thoát"))


# --- stored data -------------------------------------------------------------------------------


def _media_value(media: Media) -> dict[str, Any]:
    return {
        "kind": media.kind.value,
        "ref": media.ref,
        "name": media.name,
        "mime_type": media.mime_type,
        "size": media.size,
    }


def _media_of(data: dict[str, Any]) -> list[Media]:
    return [
        Media(
            kind=MediaKind(item["kind"]),
            ref=str(item["ref"]),
            name=item.get("name"),
            mime_type=item.get("mime_type"),
            size=item.get("size"),
        )
        for item in data.get(_MEDIA) or []
    ]


def _location_of(data: dict[str, Any]) -> Location | None:
    value = data.get(_LOCATION)
    if not value:
        return None
    return Location(float(value["latitude"]), float(value["longitude"]), value.get("title"))


def _done(turn: Turn, step: str) -> None:
    done = list(turn.data.get(_DONE) or [])
    if step not in done:
        done.append(step)
    turn.data[_DONE] = done


def _is_done(turn: Turn, step: str) -> bool:
    return step in (turn.data.get(_DONE) or [])


def _add_text(turn: Turn, text: str) -> bool:
    """Append ``text`` to what the resident wrote; False when that would be too long."""
    current = turn.data.get(_TEXT) or ""
    combined = f"{current}\n{text}" if current else text
    if len(combined) > MAX_TEXT:
        return False
    turn.data[_TEXT] = combined
    return True


def _keep_media(turn: Turn, media: tuple[Media, ...]) -> tuple[int, bool]:
    """Keep the files of a message (stickers are not evidence); how many are kept now, and
    whether some had to be left out because the limit was reached."""
    kept: list[dict[str, Any]] = list(turn.data.get(_MEDIA) or [])
    dropped = False
    for item in media:
        if item.kind is MediaKind.STICKER:
            continue
        if len(kept) >= MAX_ATTACHMENTS:
            dropped = True
            continue
        kept.append(_media_value(item))
    turn.data[_MEDIA] = kept
    return len(kept), dropped


def _keep_location(turn: Turn, location: Location) -> None:
    turn.data[_LOCATION] = {
        "latitude": location.latitude,
        "longitude": location.longitude,
        "title": location.title,
    }


def _keep_event(turn: Turn) -> bool:
    """Keep what a message outside the flow carried (text, files, a location); False when it
    carried nothing worth keeping."""
    event = turn.event
    kept = False
    text = clean_message(event.text or "")
    if text and _add_text(turn, text[:MAX_TEXT]):
        kept = True
    if event.media:
        count, _ = _keep_media(turn, event.media)
        kept = kept or count > 0
    if event.location is not None:
        _keep_location(turn, event.location)
        kept = True
    return kept


# --- buttons -----------------------------------------------------------------------------------


def _cancel_button(turn: Turn) -> Button:
    return Button(turn.gettext("Cancel"), "tipx:cancel")


def _after_buttons(turn: Turn) -> list[list[Button]]:
    return [
        [Button(turn.gettext("My tips"), "mytips"), Button(turn.gettext("Menu"), "menu")],
    ]


def _category_label(turn: Turn, value: str) -> str:
    return turn.gettext(TIP_CATEGORY_LABELS[value])


# --- starting ----------------------------------------------------------------------------------


def _available(turn: Turn) -> bool:
    """Tips need the services (the keyring for the vault); the app always provides them."""
    return turn.services is not None


def _desk(turn: Turn) -> Tips:
    if turn.services is None:  # pragma: no cover - every entry checks `_available` first
        raise RuntimeError("tips need BotServices")
    return Tips(turn.services.keyring)


@router.command("tip", "baotin")
@router.keyword("report", "báo tin", "tố giác")
@router.action("tip")
async def start_tip(turn: Turn) -> None:
    """A new tip; ``/tip <text>`` keeps the text as what happened."""
    if not _available(turn):
        await not_understood(turn)
        return
    turn.end()
    turn.go(FLOW, CATEGORY)
    if turn.event.kind is InboundKind.COMMAND and turn.event.args.strip():
        _add_text(turn, clean_message(turn.event.args)[:MAX_TEXT])
    await _next(turn)


async def offer_tip(turn: Turn) -> None:
    """A message outside any conversation: offered as a tip, a question or a rumour check,
    kept so it need not be typed again. Commands, buttons and people who have not chosen a
    language yet get the usual "not understood" (and so the language question)."""
    event = turn.event
    offerable = event.kind in (InboundKind.TEXT, InboundKind.MEDIA, InboundKind.LOCATION)
    # An officer's unfinished flow is theirs to finish: it is not replaced by an offer.
    if (
        not offerable
        or not _available(turn)
        or not turn.has_chosen_language
        or turn.flow.startswith("officer.")
    ):
        await not_understood(turn)
        return
    turn.end()
    turn.go(OFFER_FLOW, CHOOSE)
    if not _keep_event(turn):
        turn.end()
        await not_understood(turn)
        return
    _say_offer(turn)


def _say_offer(turn: Turn) -> None:
    turn.say(
        turn.gettext(
            "Would you like to send this to the commune police? Choose what it is — you will "
            "not have to type it again."
        ),
        buttons=[
            [Button(turn.gettext("Report it as a tip"), "tipx:report")],
            [Button(turn.gettext("Ask a question"), "tipx:ask")],
            [Button(turn.gettext("Check a rumour"), "tipx:rumour")],
            [Button(turn.gettext("Menu"), "menu")],
        ],
    )


@router.on(InboundKind.MEDIA)
@router.on(InboundKind.LOCATION)
async def sent_outside(turn: Turn) -> None:
    """A photo, a file or a location sent outside any conversation."""
    await offer_tip(turn)


@router.step(OFFER_FLOW, CHOOSE)
async def more_before_choosing(turn: Turn) -> None:
    """More messages before a button is pressed: kept with the first."""
    text = clean_message(turn.event.text or "")
    if text and fold(text) in _CANCEL_WORDS:
        await _cancel(turn)
        return
    _keep_event(turn)
    _say_offer(turn)


# --- the steps ---------------------------------------------------------------------------------


async def _next(turn: Turn) -> None:
    """Ask for the first thing still missing; the summary when nothing is."""
    data = turn.data
    category = data.get(_CATEGORY)
    if category not in _CATEGORY_VALUES:
        _ask_category(turn)
        return
    if data.get(_UNIT) is None and not await _settle_unit(turn):
        return
    if category == TipCategory.FRAUD.value and int(data.get(_FRAUD_ASKED) or 0) < len(FRAUD_FIELDS):
        _ask_fraud(turn, FRAUD_FIELDS[int(data.get(_FRAUD_ASKED) or 0)])
        return
    if not data.get(_TEXT) and not _is_done(turn, TEXT):
        _ask_text(turn)
        return
    if not _is_done(turn, FILES):
        _ask_files(turn)
        return
    if category not in NO_PLACE and not _is_done(turn, PLACE) and not data.get(_LOCATION):
        _ask_place(turn)
        return
    if (
        turn.contact.kind is ContactKind.SHARED_HOUSEHOLD
        and _HOUSEHOLD not in data
        and await _ask_household(turn)
    ):
        return
    if _ANONYMOUS not in data:
        _ask_anonymity(turn)
        return
    await _confirm(turn)


def _ask_category(turn: Turn) -> None:
    turn.go(FLOW, CATEGORY)
    buttons = [
        Button(_category_label(turn, category.value), f"tipc:{category.value}")
        for category in CATEGORIES
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    turn.say(
        turn.gettext("What is it about?"),
        buttons=[*rows, [_cancel_button(turn)]],
    )


def _fraud_first_steps(turn: Turn) -> str:
    return turn.gettext(
        "If you were scammed, act now, before anything else:\n"
        "1. Call your bank's hotline right away and ask them to block the transfer and your "
        "account or card.\n"
        "2. Do not transfer any more money, whatever they promise or threaten.\n"
        "3. Never give anyone an OTP code or a password, even someone who says they are police "
        "or bank staff.\n"
        "4. Keep the screenshots and messages: you can send them to us in a moment."
    )


@router.action("tipc")
async def category_chosen(turn: Turn) -> None:
    if not _available(turn):
        await not_understood(turn)
        return
    value = (turn.event.action or "").partition(":")[2]
    if value not in _CATEGORY_VALUES:
        await not_understood(turn)
        return
    if turn.flow != FLOW:
        turn.end()  # a category button of an earlier question: a new tip
        turn.go(FLOW, CATEGORY)
    if turn.data.get(_CATEGORY) != value:
        turn.data.pop(_FRAUD, None)
        turn.data.pop(_FRAUD_ASKED, None)
    turn.data[_CATEGORY] = value
    if value == TipCategory.FRAUD.value:
        turn.say(_fraud_first_steps(turn))
    elif value in DANGER:
        turn.say(turn.gettext("If someone is in danger right now, call 113 first."))
    await _next(turn)


async def _known_units(turn: Turn) -> list[Unit]:
    """The communes of the pages they follow; else the only page of this account, if any."""
    followed = await follows.followed_pages(turn.contact)
    pages = followed or await follows.pages_of_account(turn.account.id)
    if not followed and len(pages) != 1:
        return []
    found: dict[int, Unit] = {}
    for page in pages:
        found.setdefault(page.unit.id, page.unit)
    return list(found.values())


async def _settle_unit(turn: Turn) -> bool:
    """Set the tip's commune when it is known; otherwise ask. True when it is now set."""
    if not turn.data.get(_TYPE_UNIT):
        known = await _known_units(turn)
        if len(known) == 1:
            turn.data[_UNIT] = known[0].id
            return True
        if known:
            turn.go(FLOW, UNIT)
            turn.say(
                turn.gettext("Which commune or ward is it about?"),
                buttons=[
                    *([Button(unit.name, f"tipu:{unit.id}")] for unit in known),
                    [Button(turn.gettext("Another commune"), "tipu:other")],
                    [_cancel_button(turn)],
                ],
            )
            return False
    _ask_unit_name(turn)
    return False


def _ask_unit_name(turn: Turn) -> None:
    turn.go(FLOW, UNIT)
    turn.say(
        turn.gettext("Which commune or ward is it about? Type its name."),
        buttons=[[_cancel_button(turn)]],
    )


async def _unit_typed(turn: Turn, name: str) -> None:
    try:
        found = await units.search_units(name, level=UnitLevel.COMMUNE, limit=MAX_UNIT_CHOICES)
    except ValidationError:  # nothing searchable in it
        found = []
    if not found:
        turn.say(
            turn.gettext(
                "I found no commune or ward called “{name}”. Check the name and type it again.",
                name=name[:60],
            ),
            buttons=[[_cancel_button(turn)]],
        )
        return
    # The province tells apart communes of the same name.
    parent_ids = {unit.parent_id for unit in found if unit.parent_id is not None}  # type: ignore[attr-defined]
    parents = {unit.id: unit.name for unit in await Unit.filter(id__in=list(parent_ids))}

    def label(unit: Unit) -> str:
        parent = parents.get(unit.parent_id)  # type: ignore[attr-defined]
        return f"{unit.name} · {parent}" if parent else unit.name

    turn.say(
        turn.gettext("Which one is it?"),
        buttons=[
            *([Button(label(unit), f"tipu:{unit.id}")] for unit in found),
            [Button(turn.gettext("None of these"), "tipu:other")],
            [_cancel_button(turn)],
        ],
    )


@router.action("tipu")
async def unit_chosen(turn: Turn) -> None:
    if not _available(turn):
        await not_understood(turn)
        return
    if turn.flow != FLOW:
        _stale(turn)
        return
    value = (turn.event.action or "").partition(":")[2]
    if value == "other":
        turn.data[_TYPE_UNIT] = True
        turn.data.pop(_UNIT, None)
        _ask_unit_name(turn)
        return
    unit_id = as_id(value)
    if unit_id is None:
        await _next(turn)
        return
    try:
        unit = await tips.tip_unit(unit_id)
    except ValidationError:
        turn.data[_TYPE_UNIT] = True
        _ask_unit_name(turn)
        return
    turn.data[_UNIT] = unit.id
    await _next(turn)


def _ask_fraud(turn: Turn, field: str) -> None:
    turn.go(FLOW, FRAUD)
    # Skip only: an amount typed as "2" would otherwise press a second button (Cancel) where
    # buttons are numbered. "Cancel" typed in words still cancels.
    turn.say(
        turn.gettext(FRAUD_QUESTIONS[field]),
        buttons=[[Button(turn.gettext("Skip"), "tipx:skip")]],
    )


def _ask_text(turn: Turn) -> None:
    turn.go(FLOW, TEXT)
    category = turn.data.get(_CATEGORY)
    if category == TipCategory.RUMOUR_CHECK.value:
        question = turn.gettext(
            "Forward or paste the message, link or picture you want us to check."
        )
    elif category == TipCategory.PROCEDURE_QUESTION.value:
        question = turn.gettext("Write your question.")
    else:
        question = turn.gettext(
            "Write what happened: what, where, when and who. You can also send a photo with "
            "a caption."
        )
    row = [_cancel_button(turn)]
    if turn.data.get(_MEDIA):  # a photo alone can be the whole tip
        row.insert(0, Button(turn.gettext("Skip"), "tipx:skip"))
    turn.say(question, buttons=[row])


def _ask_files(turn: Turn) -> None:
    turn.go(FLOW, FILES)
    if turn.data.get(_CATEGORY) == TipCategory.FRAUD.value:
        question = turn.gettext(
            "Send the screenshots of the transfer and of the messages with the scammer (up to "
            "{max} files), then press Done. If you have none, press Skip.",
            max=MAX_ATTACHMENTS,
        )
    else:
        question = turn.gettext(
            "Send photos, a file or a voice note if you have any (up to {max}), then press "
            "Done. If you have none, press Skip.",
            max=MAX_ATTACHMENTS,
        )
    turn.say(question, buttons=[_files_row(turn)])


def _files_row(turn: Turn) -> list[Button]:
    if turn.data.get(_MEDIA):
        return [Button(turn.gettext("Done"), "tipx:done"), _cancel_button(turn)]
    return [Button(turn.gettext("Skip"), "tipx:skip"), _cancel_button(turn)]


def _ask_place(turn: Turn) -> None:
    turn.go(FLOW, PLACE)
    turn.say(
        turn.gettext(
            "Where did it happen? Share your location, type the place (for example “chợ, thôn "
            "3”), or press Skip."
        ),
        buttons=[
            [Button(turn.gettext("Share my location"), kind=ButtonKind.LOCATION)],
            [Button(turn.gettext("Skip"), "tipx:skip"), _cancel_button(turn)],
        ],
    )


async def _ask_household(turn: Turn) -> bool:
    """On a shared household account: which household is it about? False when the account
    speaks for no confirmed household (nothing to ask)."""
    members = await householdgroups.households_for_tip(turn.contact)
    if not members:
        return False
    turn.go(FLOW, HOUSEHOLD)
    turn.say(
        turn.gettext("This account speaks for several households. Which household is this about?"),
        buttons=[
            [Button(member.household.head_name, f"tiph:{member.household.id}")]
            for member in members[:MAX_HOUSEHOLDS]
        ]
        + [[Button(turn.gettext("The whole group"), "tiph:all")], [_cancel_button(turn)]],
    )
    return True


@router.action("tiph")
async def household_chosen(turn: Turn) -> None:
    if turn.flow != FLOW:
        _stale(turn)
        return
    value = (turn.event.action or "").partition(":")[2]
    if value == "all":
        turn.data[_HOUSEHOLD] = None
    elif as_id(value) is not None:
        # Checked against the account's households on Send (a forged id is refused there).
        turn.data[_HOUSEHOLD] = as_id(value)
    await _next(turn)


async def _household_name(turn: Turn) -> str | None:
    chosen = turn.data.get(_HOUSEHOLD)
    if chosen is None:
        return None
    for member in await householdgroups.households_for_tip(turn.contact):
        if member.household.id == chosen:
            return member.household.head_name
    return None


def _ask_anonymity(turn: Turn) -> None:
    turn.go(FLOW, ANONYMITY)
    turn.say(
        turn.gettext("Do you want to stay anonymous?")
        + "\n"
        + turn.gettext(
            "If you stay anonymous, officers see only an alias such as “Người báo tin #A7F3”, "
            "not your name or account. The link between the alias and your account is kept "
            "encrypted so that their replies can reach you; it can only be opened for a "
            "serious reason, asked for by one officer and approved by a second, senior one, "
            "and both are recorded. {channel} itself still knows "
            "that you wrote to this account, and officers read everything you write in the "
            "tip itself (names, addresses).",
            channel=channel_name(turn, turn.account.kind.value),
        ),
        buttons=[
            [Button(turn.gettext("Anonymous"), "tipx:anon")],
            [Button(turn.gettext("Show my name"), "tipx:named")],
            [_cancel_button(turn)],
        ],
    )


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


async def _confirm(turn: Turn) -> None:
    turn.go(FLOW, CONFIRM)
    data = turn.data
    unit = await Unit.get_or_none(id=data[_UNIT])
    lines = [
        turn.gettext("Please check before sending:"),
        "• " + turn.gettext("Type: {category}", category=_category_label(turn, data[_CATEGORY])),
        "• " + turn.gettext("Commune: {commune}", commune=unit.name if unit else "—"),
    ]
    for field in FRAUD_FIELDS:
        answer = (data.get(_FRAUD) or {}).get(field)
        if answer:
            lines.append(f"• {turn.gettext(FRAUD_LABELS[field])}: {_excerpt(answer, 100)}")
    if data.get(_TEXT):
        lines.append("• " + turn.gettext("You wrote: {text}", text=_excerpt(data[_TEXT])))
    lines.append("• " + turn.gettext("Attachments: {count}", count=len(data.get(_MEDIA) or [])))
    if data.get(_LOCATION):
        lines.append("• " + turn.gettext("Location: shared"))
    if data.get(_PLACE):
        lines.append("• " + turn.gettext("Place: {place}", place=data[_PLACE]))
    if data.get(_CATEGORY) not in NO_PLACE and not data.get(_LOCATION) and not data.get(_PLACE):
        lines.append("• " + turn.gettext("Location: not given"))
    if _HOUSEHOLD in data:
        name = await _household_name(turn)
        lines.append(
            "• "
            + (
                turn.gettext("About the household of {head}", head=name)
                if name
                else turn.gettext("About the whole group of households")
            )
        )
    lines.append(
        "• "
        + (
            turn.gettext("Sender: anonymous")
            if data.get(_ANONYMOUS)
            else turn.gettext("Sender: your name is shown to officers")
        )
    )
    lines += ["", turn.gettext("Send it to the police?")]
    turn.say(
        "\n".join(lines),
        buttons=[[Button(turn.gettext("Send"), "tipx:send"), _cancel_button(turn)]],
    )


# --- answers -----------------------------------------------------------------------------------


@router.step(FLOW, CATEGORY)
@router.step(FLOW, UNIT)
@router.step(FLOW, FRAUD)
@router.step(FLOW, TEXT)
@router.step(FLOW, FILES)
@router.step(FLOW, PLACE)
@router.step(FLOW, HOUSEHOLD)
@router.step(FLOW, ANONYMITY)
@router.step(FLOW, CONFIRM)
async def answered(turn: Turn) -> None:
    """Whatever the resident sends while a tip is being written: files and a location are
    kept at any step, text answers the question asked."""
    event = turn.event
    if event.kind is InboundKind.MEDIA:
        await _media_sent(turn)
        return
    if event.kind is InboundKind.LOCATION and event.location is not None:
        _keep_location(turn, event.location)
        turn.say(turn.gettext("Location kept."))
        await _next(turn)
        return
    text = clean_message(event.text or "")
    if not text:
        await _next(turn)
        return
    if fold(text) in _CANCEL_WORDS:
        await _cancel(turn)
        return
    if turn.step == UNIT:
        await _unit_typed(turn, text)
    elif turn.step == FRAUD:
        asked = int(turn.data.get(_FRAUD_ASKED) or 0)
        if asked < len(FRAUD_FIELDS):
            answers = dict(turn.data.get(_FRAUD) or {})
            answers[FRAUD_FIELDS[asked]] = text[: tips.MAX_DETAIL]
            turn.data[_FRAUD] = answers
            turn.data[_FRAUD_ASKED] = asked + 1
        await _next(turn)
    elif turn.step in (TEXT, FILES):
        if not _add_text(turn, text):
            turn.say(
                turn.gettext(
                    "That is too long: at most {max} characters in all. Please shorten it.",
                    max=MAX_TEXT,
                )
            )
        elif turn.step == FILES:
            turn.say(
                turn.gettext("Added to what you wrote. Send files, or press Done."),
                buttons=[_files_row(turn)],
            )
            return
        await _next(turn)
    elif turn.step == PLACE:
        turn.data[_PLACE] = text[:MAX_PLACE]
        _done(turn, PLACE)
        await _next(turn)
    else:
        if turn.step == CATEGORY and _add_text(turn, text):
            turn.say(turn.gettext("I kept what you wrote. First choose what it is about."))
        await _next(turn)  # a question with buttons: asked again


async def _media_sent(turn: Turn) -> None:
    event = turn.event
    before = len(turn.data.get(_MEDIA) or [])
    count, dropped = _keep_media(turn, event.media)
    caption = clean_message(event.text or "")
    if caption and not _add_text(turn, caption):
        caption = ""
    if dropped:
        turn.say(
            turn.gettext(
                "At most {max} files can be sent with a tip; the others were not kept.",
                max=MAX_ATTACHMENTS,
            )
        )
    if count > before or caption:
        if turn.step == TEXT:
            _done(turn, TEXT)
        if turn.step == FILES:
            turn.say(
                turn.gettext("Received ({count}). Send more, or press Done.", count=count),
                buttons=[_files_row(turn)],
            )
            return
        if count > before:
            turn.say(turn.gettext("Received ({count}).", count=count))
    await _next(turn)


@router.action("tipx")
async def tip_choice(turn: Turn) -> None:
    if not _available(turn):
        await not_understood(turn)
        return
    verb = (turn.event.action or "").partition(":")[2]
    if verb == "cancel":
        await _cancel(turn)
        return
    if verb in ("report", "ask", "rumour"):
        kept = dict(turn.data) if turn.flow == OFFER_FLOW else {}
        turn.end()
        turn.go(FLOW, CATEGORY, **kept)
        if verb == "ask":
            turn.data[_CATEGORY] = TipCategory.PROCEDURE_QUESTION.value
        elif verb == "rumour":
            turn.data[_CATEGORY] = TipCategory.RUMOUR_CHECK.value
        await _next(turn)
        return
    if turn.flow != FLOW:
        _stale(turn)
        return
    if verb in ("skip", "done"):
        _skip(turn)
    elif verb in ("anon", "named"):
        turn.data[_ANONYMOUS] = verb == "anon"
    elif verb == "send" and turn.step == CONFIRM:
        await _send(turn)
        return
    await _next(turn)


def _skip(turn: Turn) -> None:
    """Skip (or finish) the question being asked, where it may be skipped."""
    if turn.step == FRAUD:
        turn.data[_FRAUD_ASKED] = int(turn.data.get(_FRAUD_ASKED) or 0) + 1
    elif turn.step == TEXT and (turn.data.get(_MEDIA) or turn.data.get(_TEXT)):
        _done(turn, TEXT)
    elif turn.step in (FILES, PLACE):
        _done(turn, turn.step)


def _stale(turn: Turn) -> None:
    """A button of a question that is no longer open (answered, cancelled or expired)."""
    turn.end()
    turn.say(
        turn.gettext("That question is no longer open. To report something, type /tip."),
        buttons=menu_buttons(turn),
    )


async def _cancel(turn: Turn) -> None:
    turn.end()
    turn.say(turn.gettext("Cancelled: nothing was sent."), buttons=menu_buttons(turn))


async def _send(turn: Turn) -> None:
    data = turn.data
    anonymous = bool(data.get(_ANONYMOUS, True))
    try:
        submitted = await _desk(turn).submit(
            turn.contact,
            TipInput(
                category=data[_CATEGORY],
                text=data.get(_TEXT) or "",
                unit_id=int(data[_UNIT]),
                anonymous=anonymous,
                location=_location_of(data),
                location_text=data.get(_PLACE),
                media=_media_of(data),
                details=dict(data.get(_FRAUD) or {}),
                household_id=data.get(_HOUSEHOLD),
            ),
        )
    except ValidationError as err:
        # The two answers that can go stale between the question and Send: asked again.
        if err.field == "unit":
            data.pop(_UNIT, None)
            data[_TYPE_UNIT] = True
            turn.say(turn.gettext("This commune cannot receive tips here. Choose it again."))
            await _next(turn)
            return
        if err.field == "household":
            data.pop(_HOUSEHOLD, None)  # no longer one of this account's: asked again
            await _next(turn)
            return
        if err.field == "text":
            data.pop(_TEXT, None)
            data[_DONE] = [step for step in data.get(_DONE) or [] if step != TEXT]
            await _next(turn)
            return
        if err.field == "flood":
            # Kept as it is: Send works again once the hour has passed.
            turn.say(
                turn.gettext(
                    "You have sent many tips in the last hour. Please wait a little and press "
                    "Send again. If someone is in danger, call 113."
                ),
                buttons=[[Button(turn.gettext("Send"), "tipx:send"), _cancel_button(turn)]],
            )
            return
        raise
    category = data[_CATEGORY]
    turn.end()
    lines = [
        turn.gettext(
            "Your tip was sent. Its number is {reference}.", reference=submitted.reference
        ),
        turn.gettext(
            "Keep this number: type /mytips to see its status or to add information. We will "
            "tell you here when its status changes."
        ),
    ]
    if anonymous and submitted.tip.alias:
        lines.append(turn.gettext("Officers see you as “{alias}”.", alias=submitted.tip.alias))
    if submitted.verdict_known:
        lines.append(
            turn.gettext(
                "The police have already checked this rumour: their answer was sent to you in "
                "a separate message."
            )
        )
    if category == TipCategory.FRAUD.value:
        lines.append(
            turn.gettext(
                "Remember: if you have not done so yet, call your bank's hotline now, and do "
                "not transfer any more money."
            )
        )
    turn.say("\n".join(lines), buttons=_after_buttons(turn))


# --- my tips, and adding to one ----------------------------------------------------------------


@router.command("mytips", "tincuatoi")
@router.keyword("my tips", "tin của tôi")
@router.action("mytips")
async def my_tips(turn: Turn) -> None:
    if not _available(turn):
        await not_understood(turn)
        return
    turn.end()
    mine = await _desk(turn).mine(turn.contact)
    report = [Button(turn.gettext("Report"), "tip"), Button(turn.gettext("Menu"), "menu")]
    if not mine:
        turn.say(turn.gettext("You have not sent any tip yet."), buttons=[report])
        return
    lines = [turn.gettext("Your tips:")]
    lines += [_tip_line(turn, tip) for tip in mine]
    still_open = [tip for tip in mine if tip.status in OPEN_TIP_STATUSES][:MAX_ADD_BUTTONS]
    turn.say(
        "\n".join(lines),
        buttons=[
            *(
                [
                    Button(
                        turn.gettext(
                            "Add information to {reference}", reference=tips.display_reference(tip)
                        ),
                        f"tipadd:{tip.reference}",
                    )
                ]
                for tip in still_open
            ),
            report,
        ],
    )


def _tip_line(turn: Turn, tip: Tip) -> str:
    return " · ".join(
        (
            tips.display_reference(tip),
            _category_label(turn, tip.category.value),
            turn.gettext(TIP_STATUS_LABELS[tip.status.value]),
            when(turn, tip.created_at),
        )
    )


@router.action("tipadd")
async def add_to_tip(turn: Turn) -> None:
    """ "Answer" / "Add information" under an officer's reply, a status message or "my tips":
    the next message goes to that tip."""
    if not _available(turn):
        await not_understood(turn)
        return
    reference = (turn.event.action or "").partition(":")[2]
    turn.end()
    try:
        tip = await _desk(turn).own_tip(turn.contact, reference)
    except NotFound:
        _not_yours(turn)
        return
    if tip.status not in OPEN_TIP_STATUSES:
        _closed(turn, tip)
        return
    turn.go(ADD_FLOW, ADD, **{_REFERENCE: tip.reference})
    turn.say(
        turn.gettext(
            "Write what you want to add to your tip {reference}. You can also send a photo, a "
            "file or a voice note.",
            reference=tips.display_reference(tip),
        ),
        buttons=[[_cancel_button(turn)]],
    )


@router.step(ADD_FLOW, ADD)
async def addition_sent(turn: Turn) -> None:
    event = turn.event
    reference = str(turn.data.get(_REFERENCE) or "")
    text = clean_message(event.text or "")
    if text and fold(text) in _CANCEL_WORDS:
        await _cancel(turn)
        return
    if event.kind is InboundKind.LOCATION and event.location is not None:
        place = event.location
        text = (
            f"📍 {place.latitude:.5f}, {place.longitude:.5f} "
            f"https://maps.google.com/?q={place.latitude:.5f},{place.longitude:.5f}"
        )
    media = [item for item in event.media if item.kind is not MediaKind.STICKER]
    if not text and not media:
        turn.say(
            turn.gettext("Write what you want to add, or press Cancel."),
            buttons=[[_cancel_button(turn)]],
        )
        return
    if len(text) > MAX_TEXT:
        turn.say(
            turn.gettext(
                "That is too long: at most {max} characters in all. Please shorten it.",
                max=MAX_TEXT,
            ),
            buttons=[[_cancel_button(turn)]],
        )
        return
    turn.end()
    try:
        tip = await _desk(turn).add(turn.contact, reference, text, media[:MAX_ATTACHMENTS])
    except NotFound:
        _not_yours(turn)
        return
    except Conflict:
        turn.say(
            turn.gettext(
                "This tip is closed, so nothing was added. To report something new, type /tip."
            ),
            buttons=menu_buttons(turn),
        )
        return
    turn.say(
        turn.gettext(
            "Added to your tip {reference}. The officer handling it has been told.",
            reference=tips.display_reference(tip),
        ),
        buttons=[
            [Button(turn.gettext("Add more"), f"tipadd:{tip.reference}")],
            *_after_buttons(turn),
        ],
    )


def _not_yours(turn: Turn) -> None:
    turn.say(
        turn.gettext("I could not find this tip among yours. Type /mytips to see them."),
        buttons=menu_buttons(turn),
    )


def _closed(turn: Turn, tip: Tip) -> None:
    turn.say(
        turn.gettext(
            "Your tip {reference} is closed, so nothing can be added to it. To report "
            "something new, type /tip.",
            reference=tips.display_reference(tip),
        ),
        buttons=menu_buttons(turn),
    )
