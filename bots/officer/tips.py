"""Tips from the officer's side of the bot: the lists (``/tips``, ``/tips mine``, ``/tips
overdue``; ``/tin``, ``/tin cuatoi``, ``/tin quahan``), a tip's card (``/viewtip T-7K3M9P``
or ``/viewtip 12``; ``/xemtin`` — ``/tip`` is the resident's command to send a tip) and every
action on it — acknowledge, take, reply to the resident, internal note, resolve with the
outcome, reject with the reason, duplicate of an earlier tip, the verdict on a rumour check
(and its rumour-check post), the attachments.

Buttons: ``tk:<tip id>:<verb>`` on a card (`tipcards`), ``tko:<tip id>`` to open a card from a
list, ``tkv:<tip id>:<verdict>`` for a rumour's verdict, ``tkp:<tip id>`` / ``tkp:no`` to
publish the verdict or not, ``tk:cancel`` instead of a text. Whatever a payload says, every
handler goes through the tip service (`tips.access_tip` and `Tips`), which decides scope once:
another commune's tip is "not found", the same as a tip that does not exist, and nothing
changes. Supervisors use the same commands on their whole subtree; the service scopes it.

A refusal of the service (already acknowledged, closed meanwhile, too long) is answered with
what it means for the officer, in their language, and the card as it is now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bots.conversation import Router, Turn
from bots.officer.common import (
    FLOW_PREFIX,
    cancel_row,
    for_staff,
    lines,
    number,
    reference,
    services,
    when,
)
from bots.resident.menu import excerpt
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    PostStatus,
    RumourVerdict,
    Staff,
    Tip,
    TipCategory,
    TipMessageDirection,
    TipStatus,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import N_, TIP_CATEGORY_LABELS, TIP_STATUS_LABELS
from communepol.ports import Button, InboundKind
from communepol.services import breachwatch, posts, rumours, tipcards, tipmedia, tips
from communepol.services.tips import TipList, Tips
from communepol.text import fold

router = Router()

FLOW = f"{FLOW_PREFIX}tip"
REPLY, NOTE, RESOLVE, REJECT, DUP, VERDICT = "reply", "note", "resolve", "reject", "dup", "verdict"
CANCEL = "tk:cancel"
THREAD = 4  # latest messages shown under a card
THREAD_EXCERPT = 300
PER_ROW = 2  # "open" buttons per row under a list

# What a list is called when typed after /tips (folded, spaces removed).
LISTS = {
    "": TipList.OPEN,
    "open": TipList.OPEN,
    "mo": TipList.OPEN,
    "all": TipList.OPEN,
    "mine": TipList.MINE,
    "my": TipList.MINE,
    "cuatoi": TipList.MINE,
    "toi": TipList.MINE,
    "overdue": TipList.OVERDUE,
    "late": TipList.OVERDUE,
    "quahan": TipList.OVERDUE,
    "trehan": TipList.OVERDUE,
}
LIST_HEADINGS = {
    TipList.OPEN: N_("Open tips in your area: {count}"),
    TipList.MINE: N_("Open tips assigned to you: {count}"),
    TipList.OVERDUE: N_("Overdue tips in your area: {count}"),
}
LIST_EMPTY = {
    TipList.OPEN: N_("No open tips in your area."),
    TipList.MINE: N_("No open tips are assigned to you. Type /tips for all open tips."),
    TipList.OVERDUE: N_("No overdue tips in your area."),
}
LIST_COUNTS = {TipList.OPEN: "open", TipList.MINE: "mine", TipList.OVERDUE: "overdue"}

PROMPTS = {
    REPLY: N_(
        "Type your reply to the resident who sent tip {reference}. It reaches them as "
        "“Police reply”, without your name."
    ),
    NOTE: N_("Type the note for tip {reference}. Only officers see it, not the resident."),
    RESOLVE: N_("Type the outcome of tip {reference}; the resident is told it."),
    REJECT: N_(
        "Type the reason for closing tip {reference} without action; the resident is told it."
    ),
    DUP: N_("Tip {reference} repeats which earlier tip? Type its number, for example T-7K3M9P."),
}
VERDICT_ORDER = (
    RumourVerdict.TRUE,
    RumourVerdict.FALSE,
    RumourVerdict.MISLEADING,
    RumourVerdict.UNVERIFIED,
)


def desk(turn: Turn) -> Tips:
    return Tips(services(turn).keyring)


def _cancel(turn: Turn) -> list[list[Button]]:
    return [cancel_row(turn, CANCEL)]


# --- how tips read ------------------------------------------------------------------------


def tip_line(turn: Turn, tip: Tip) -> str:
    """One tip in a list: "T-7K3M9P · Theft · New · Xã Ea Kar · answer by …"."""
    parts = [
        tipcards.reference_of(tip),
        turn.gettext(TIP_CATEGORY_LABELS[tip.category.value]),
        turn.gettext(TIP_STATUS_LABELS[tip.status.value]),
        tip.unit.name,
    ]
    if tip.first_response_at is None and tip.first_response_due_at is not None:
        parts.append(turn.gettext("answer by {when}", when=when(turn, tip.first_response_due_at)))
    elif tip.resolution_due_at is not None:
        parts.append(turn.gettext("resolve by {when}", when=when(turn, tip.resolution_due_at)))
    line = " · ".join(parts)
    return f"⚠️ {line}" if tips.is_overdue(tip) else line


def open_buttons(items: list[Tip]) -> list[list[Button]]:
    """A button per tip that opens its card."""
    buttons = [Button(tipcards.reference_of(tip), f"tko:{tip.id}") for tip in items]
    return [buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]


def counts_line(turn: Turn, counts: dict[str, int]) -> str:
    return turn.gettext(
        "In your area: {open} open tips, {new} not acknowledged, {overdue} overdue, "
        "{mine} assigned to you.",
        **counts,
    )


async def _thread_lines(turn: Turn, staff: Staff, tip: Tip) -> str | None:
    """Who handles the tip and its latest messages (the first one is the card's text)."""
    messages = await tips.thread(staff, tip.id, limit=THREAD + 1)
    first = messages[0] if messages else None
    if (
        first is not None
        and first.direction is TipMessageDirection.FROM_RESIDENT
        and first.text == tip.text
    ):
        messages = messages[1:]
    shown: list[str] = []
    if tip.assignee_id is not None:  # type: ignore[attr-defined]
        await tip.fetch_related("assignee")
        if tip.assignee is not None:
            shown.append(turn.gettext("Handled by {name}.", name=tip.assignee.full_name))
    if messages:
        shown.append(turn.gettext("Latest messages:"))
    for message in messages[-THREAD:]:
        text = excerpt(message.text, THREAD_EXCERPT)
        moment = when(turn, message.created_at)
        author = message.author.full_name if message.author else "—"
        if message.direction is TipMessageDirection.FROM_RESIDENT:
            shown.append(turn.gettext("• Resident, {when}: {text}", when=moment, text=text))
        elif message.direction is TipMessageDirection.TO_RESIDENT:
            shown.append(
                turn.gettext(
                    "• Reply by {name}, {when}: {text}", name=author, when=moment, text=text
                )
            )
        else:
            shown.append(
                turn.gettext(
                    "• Note by {name}, {when}: {text}", name=author, when=moment, text=text
                )
            )
    return "\n".join(shown) if shown else None


async def show_card(turn: Turn, staff: Staff, tip: Tip, *, before: str | None = None) -> None:
    """The tip's card with its buttons, the latest messages under it, ``before`` above it.
    Each card shown is a read of the tip, audited like the admin web's and the API's."""
    sender = await tips.sender_label(services(turn).keyring, tip)
    card = (await tipcards.TipCard.of(tip, sender)).message(turn.i18n, turn.locale)
    text = lines(before, card.text, await _thread_lines(turn, staff, tip))
    turn.say(text, buttons=card.buttons)
    await breachwatch.record_tip_read(staff, tip, source="bot")


async def explain_refusal(turn: Turn, staff: Staff, tip_id: int, verb: str) -> None:
    """Why an action was refused (someone else was faster, or the tip closed): what the tip
    is now, and its card."""
    tip = await tips.access_tip(staff, tip_id)
    ref = tipcards.reference_of(tip)
    if tip.status not in OPEN_TIP_STATUSES:
        why = turn.gettext(
            "Tip {reference} is already closed ({status}).",
            reference=ref,
            status=turn.gettext(TIP_STATUS_LABELS[tip.status.value]),
        )
    elif verb == "ack" and tip.status is not TipStatus.NEW:
        why = turn.gettext("Tip {reference} was already acknowledged.", reference=ref)
    elif verb == "take" and tip.assignee_id == staff.id:  # type: ignore[attr-defined]
        why = turn.gettext("Tip {reference} is already yours.", reference=ref)
    else:
        why = turn.gettext("Tip {reference} was changed meanwhile; here it is now.", reference=ref)
    await show_card(turn, staff, tip, before=why)


# --- lists and cards ----------------------------------------------------------------------


@router.command("tips", "tin", "dstin")
@for_staff
async def tip_list(turn: Turn, staff: Staff) -> None:
    turn.end()
    which = LISTS.get(fold(turn.event.args).replace(" ", ""))
    if which is None:
        turn.say(
            turn.gettext(
                "Type /tips for the open tips of your area, /tips mine for yours, "
                "/tips overdue for those past a deadline."
            )
        )
        return
    items = await tips.list_tips(staff, which)
    if not items:
        turn.say(turn.gettext(LIST_EMPTY[which]))
        return
    total = (await tips.count_tips(staff))[LIST_COUNTS[which]]
    heading = turn.gettext(LIST_HEADINGS[which], count=total)
    if total > len(items):
        heading += "\n" + turn.gettext("The {shown} most urgent are shown.", shown=len(items))
    body = "\n".join(tip_line(turn, tip) for tip in items)
    turn.say(
        lines(heading, body, turn.gettext("Press a tip's number to open it.")),
        buttons=open_buttons(items),
    )


@router.command("viewtip", "xemtin")
@for_staff
async def open_typed(turn: Turn, staff: Staff) -> None:
    typed = turn.event.args.strip()
    if not typed:
        turn.say(
            turn.gettext(
                "Type /viewtip followed by the tip's number, for example /viewtip T-7K3M9P. "
                "/tips lists the open tips."
            )
        )
        return
    as_id = number(typed)
    tip = await tips.access_tip(staff, as_id if as_id is not None else typed)
    await show_card(turn, staff, tip)


@router.action("tko")
@for_staff
async def open_pressed(turn: Turn, staff: Staff) -> None:
    tip_id = reference(turn.event.action, 1)
    if tip_id is None:
        raise NotFound("not found")
    await show_card(turn, staff, await tips.access_tip(staff, tip_id))


# --- the card's buttons -------------------------------------------------------------------


async def _acknowledge(turn: Turn, staff: Staff, tip_id: int) -> None:
    try:
        tip = await desk(turn).acknowledge(staff, tip_id)
    except Conflict:
        await explain_refusal(turn, staff, tip_id, "ack")
        return
    done = turn.gettext(
        "Tip {reference} acknowledged; the resident is told it was received.",
        reference=tipcards.reference_of(tip),
    )
    await show_card(turn, staff, tip, before=done)


async def _take(turn: Turn, staff: Staff, tip_id: int) -> None:
    try:
        tip = await desk(turn).take(staff, tip_id)
    except Conflict:
        await explain_refusal(turn, staff, tip_id, "take")
        return
    done = turn.gettext(
        "Tip {reference} is yours now; the resident is told an officer works on it.",
        reference=tipcards.reference_of(tip),
    )
    await show_card(turn, staff, tip, before=done)


async def _ask_text(turn: Turn, staff: Staff, tip_id: int, step: str) -> None:
    tip = await tips.access_tip(staff, tip_id)  # NotFound outside the scope, before asking
    if step in (RESOLVE, REJECT, DUP) and tip.status not in OPEN_TIP_STATUSES:
        await explain_refusal(turn, staff, tip.id, step)
        return
    ref = tipcards.reference_of(tip)
    turn.end()
    turn.go(FLOW, step, tip=tip.id, ref=ref)
    turn.say(turn.gettext(PROMPTS[step], reference=ref), buttons=_cancel(turn))


async def _offer_verdicts(turn: Turn, staff: Staff, tip_id: int) -> None:
    tip = await tips.access_tip(staff, tip_id)
    ref = tipcards.reference_of(tip)
    if tip.category is not TipCategory.RUMOUR_CHECK:
        turn.say(turn.gettext("Only a rumour check gets a verdict."))
        return
    if tip.status not in OPEN_TIP_STATUSES:
        await explain_refusal(turn, staff, tip.id, VERDICT)
        return
    choices = [
        Button(turn.gettext(rumours.VERDICT_LABELS[value]), f"tkv:{tip.id}:{value.value}")
        for value in VERDICT_ORDER
    ]
    turn.say(
        turn.gettext(
            "Your verdict on the message of tip {reference}? It answers every resident who "
            "sent the same message.",
            reference=ref,
        ),
        buttons=[choices[:2], choices[2:], cancel_row(turn, CANCEL)],
    )


async def _files(turn: Turn, staff: Staff, tip_id: int) -> None:
    """Each stored file as a message of its own (the service checks the scope and says when
    there are none, or some are still being fetched)."""
    messages = await tipmedia.attachment_messages(
        services(turn).keyring, staff, tip_id, turn.base_url, locale=turn.locale, i18n=turn.i18n
    )
    for message in messages:
        turn.say(message.text, buttons=message.buttons, media=message.media)


async def _ask_reply(turn: Turn, staff: Staff, tip_id: int) -> None:
    await _ask_text(turn, staff, tip_id, REPLY)


async def _ask_note(turn: Turn, staff: Staff, tip_id: int) -> None:
    await _ask_text(turn, staff, tip_id, NOTE)


async def _ask_outcome(turn: Turn, staff: Staff, tip_id: int) -> None:
    await _ask_text(turn, staff, tip_id, RESOLVE)


async def _ask_reason(turn: Turn, staff: Staff, tip_id: int) -> None:
    await _ask_text(turn, staff, tip_id, REJECT)


async def _ask_original(turn: Turn, staff: Staff, tip_id: int) -> None:
    await _ask_text(turn, staff, tip_id, DUP)


VERBS: dict[str, Callable[[Turn, Staff, int], Awaitable[None]]] = {
    "ack": _acknowledge,
    "take": _take,
    "reply": _ask_reply,
    "note": _ask_note,
    "resolve": _ask_outcome,
    "reject": _ask_reason,
    "dup": _ask_original,
    "verdict": _offer_verdicts,
    "files": _files,
}


@router.action(tipcards.ACTION)
@for_staff
async def card_pressed(turn: Turn, staff: Staff) -> None:
    parts = (turn.event.action or "").split(":")
    if parts[1:] == ["cancel"]:
        if turn.flow == FLOW:
            turn.end()
        turn.say(turn.gettext("Nothing was changed."))
        return
    tip_id = reference(turn.event.action, 1)
    action = VERBS.get(parts[2]) if len(parts) == 3 else None
    if tip_id is None or action is None:
        raise NotFound("not found")
    await action(turn, staff, tip_id)


# --- what the officer types ---------------------------------------------------------------


async def _reply(turn: Turn, staff: Staff, tip_id: int, text: str, ref: str) -> None:
    reached = await desk(turn).reply(staff, tip_id, text)
    turn.end()
    if reached:
        turn.say(
            turn.gettext("Your reply was sent to the resident of tip {reference}.", reference=ref)
        )
    else:
        turn.say(
            turn.gettext(
                "Your reply is kept in tip {reference}, but the resident can no longer be reached.",
                reference=ref,
            )
        )


async def _note(turn: Turn, staff: Staff, tip_id: int, text: str, ref: str) -> None:
    await desk(turn).note(staff, tip_id, text)
    turn.end()
    turn.say(turn.gettext("Note added to tip {reference}.", reference=ref))


async def _resolve(turn: Turn, staff: Staff, tip_id: int, text: str, ref: str) -> None:
    await desk(turn).resolve(staff, tip_id, text)
    turn.end()
    turn.say(
        turn.gettext(
            "Tip {reference} is resolved; the resident is told the outcome.", reference=ref
        )
    )


async def _reject(turn: Turn, staff: Staff, tip_id: int, text: str, ref: str) -> None:
    await desk(turn).reject(staff, tip_id, text)
    turn.end()
    turn.say(
        turn.gettext(
            "Tip {reference} is closed without action; the resident is told the reason.",
            reference=ref,
        )
    )


async def _duplicate(turn: Turn, staff: Staff, tip_id: int, text: str, ref: str) -> None:
    as_id = number(text)
    try:
        original = await tips.access_tip(staff, as_id if as_id is not None else text)
    except NotFound:
        turn.say(
            turn.gettext(
                "There is no tip {typed} in your area. Type the number of the earlier tip, "
                "for example T-7K3M9P, or press Cancel.",
                typed=excerpt(text, 20),
            ),
            buttons=_cancel(turn),
        )
        return
    await desk(turn).mark_duplicate(staff, tip_id, original.id)
    turn.end()
    turn.say(
        turn.gettext(
            "Tip {reference} is marked as a duplicate of {original}; the resident is told.",
            reference=ref,
            original=tipcards.reference_of(original),
        )
    )


async def _verdict(turn: Turn, staff: Staff, tip_id: int, text: str, ref: str) -> None:
    verdict = RumourVerdict(str(turn.data.get("verdict")))  # set by verdict_chosen
    _, answered = await rumours.give_verdict(services(turn).keyring, staff, tip_id, verdict, text)
    turn.end()
    turn.say(
        turn.gettext(
            "Verdict “{verdict}” given on tip {reference}. Residents answered: {count}.",
            verdict=turn.gettext(rumours.VERDICT_LABELS[verdict]),
            reference=ref,
            count=answered,
        )
        + "\n"
        + turn.gettext("Publish it as a rumour-check post on your page?"),
        buttons=[
            [
                Button(turn.gettext("Publish"), f"tkp:{tip_id}"),
                Button(turn.gettext("Do not publish"), "tkp:no"),
            ]
        ],
    )


TYPED: dict[str, Callable[[Turn, Staff, int, str, str], Awaitable[None]]] = {
    REPLY: _reply,
    NOTE: _note,
    RESOLVE: _resolve,
    REJECT: _reject,
    DUP: _duplicate,
    VERDICT: _verdict,
}


@router.step(FLOW, REPLY)
@router.step(FLOW, NOTE)
@router.step(FLOW, RESOLVE)
@router.step(FLOW, REJECT)
@router.step(FLOW, DUP)
@router.step(FLOW, VERDICT)
@for_staff
async def text_typed(turn: Turn, staff: Staff) -> None:
    tip_id, ref = turn.data.get("tip"), str(turn.data.get("ref") or "")
    action = TYPED.get(turn.step)
    known = turn.step != VERDICT or turn.data.get("verdict") in {v.value for v in RumourVerdict}
    if not isinstance(tip_id, int) or action is None or not known:
        turn.end()
        turn.say(turn.gettext("This question has passed. Type /tips to see the tips."))
        return
    text = (turn.event.text or "").strip()
    if turn.event.kind is not InboundKind.TEXT or not text:
        turn.say(turn.gettext("Type the text, or press Cancel."), buttons=_cancel(turn))
        return
    try:
        await action(turn, staff, tip_id, text, ref)
    except ValidationError as err:
        await _invalid(turn, err, text)
    except Conflict:
        step = turn.step
        turn.end()
        if step == VERDICT:
            turn.say(turn.gettext("This rumour already has a verdict; nothing was changed."))
            return
        await explain_refusal(turn, staff, tip_id, step)
    except NotFound:
        turn.end()  # the tip left the officer's scope meanwhile: the question is over
        raise


async def _invalid(turn: Turn, err: ValidationError, text: str) -> None:
    """A text the service refused: say why and keep asking."""
    if err.field == "original":
        why = turn.gettext("A tip cannot be a duplicate of itself.")
    elif err.field == "tip":
        turn.end()
        turn.say(turn.gettext("Only a rumour check gets a verdict."))
        return
    elif len(text) > rumours.MAX_EXPLANATION and turn.step == VERDICT:
        why = turn.gettext(
            "That is too long: at most {count} characters.", count=rumours.MAX_EXPLANATION
        )
    elif len(text) > tips.MAX_TEXT:
        why = turn.gettext("That is too long: at most {count} characters.", count=tips.MAX_TEXT)
    else:
        why = turn.gettext("There is nothing to send in that.")
    turn.say(why + "\n" + turn.gettext("Type it again, or press Cancel."), buttons=_cancel(turn))


# --- rumour verdicts ----------------------------------------------------------------------


@router.action("tkv")
@for_staff
async def verdict_chosen(turn: Turn, staff: Staff) -> None:
    parts = (turn.event.action or "").split(":")
    tip_id = reference(turn.event.action, 1)
    values = {value.value for value in RumourVerdict}
    if tip_id is None or len(parts) != 3 or parts[2] not in values:
        raise NotFound("not found")
    tip = await tips.access_tip(staff, tip_id)
    if tip.category is not TipCategory.RUMOUR_CHECK:
        turn.say(turn.gettext("Only a rumour check gets a verdict."))
        return
    verdict = RumourVerdict(parts[2])
    turn.end()
    turn.go(FLOW, VERDICT, tip=tip.id, ref=tipcards.reference_of(tip), verdict=verdict.value)
    turn.say(
        turn.gettext(
            "Verdict: {verdict}. Type the explanation residents will read, for example what "
            "the official information is and where to find it.",
            verdict=turn.gettext(rumours.VERDICT_LABELS[verdict]),
        ),
        buttons=_cancel(turn),
    )


@router.action("tkp")
@for_staff
async def publish_chosen(turn: Turn, staff: Staff) -> None:
    if (turn.event.action or "") == "tkp:no":
        turn.say(turn.gettext("Not published."))
        return
    tip_id = reference(turn.event.action, 1)
    if tip_id is None:
        raise NotFound("not found")
    # The rumour is reached through a tip in the officer's scope, never by a bare cluster id.
    tip = await tips.access_tip(staff, tip_id)
    cluster_id = tip.rumour_cluster_id  # type: ignore[attr-defined]
    if cluster_id is None:
        raise NotFound("not found")
    if tip.status in OPEN_TIP_STATUSES:  # a verdict resolves every tip of its rumour
        turn.say(turn.gettext("This rumour has no verdict yet."))
        return
    settings = services(turn).settings
    try:
        post_id = await rumours.publish_verdict(staff, tip.id, turn.i18n, settings)
    except NotFound:
        # The tip is in scope (checked above): what is missing is a page the officer may use.
        turn.say(turn.gettext("There is no page in your area to publish this on."))
        return
    post = await posts.get_post(staff, post_id)
    if post.status is PostStatus.PENDING_APPROVAL:
        turn.say(
            turn.gettext(
                "Rumour-check post #{id} is written on {page}; it waits for a supervisor's "
                "approval.",
                id=post.id,
                page=post.page.title,
            )
        )
        return
    turn.say(
        turn.gettext(
            "Rumour-check post #{id} is being published on {page}.",
            id=post.id,
            page=post.page.title,
        )
    )
