"""Duty from the bot: ``/duty on`` (``/truc vao``, or "trực on" typed) starts a shift — new
tips of the officer's unit go to whoever is on duty, and only to them —, ``/duty off``
(``/truc ra``) ends it with the handover summary (open tips, not acknowledged, overdue, the
officer's own open tips with buttons to open them), and ``/duty`` (``/truc``) says which it is.

The shift and its handover are the duty service's (`services.duty`); this only reads the
words and renders the answer.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.officer.common import for_staff, lines
from bots.officer.tips import counts_line, open_buttons, tip_line
from communepol.db.models import Staff
from communepol.services import duty, officers, tips
from communepol.text import fold

router = Router()

# Typed after /duty, folded and without spaces ("vào" → "vao").
ON_WORDS = frozenset(("on", "start", "vao", "bat", "batdau", "nhan"))
OFF_WORDS = frozenset(("off", "stop", "end", "ra", "tat", "het", "nghi", "ketthuc", "giao"))


@router.command("duty", "truc")
@for_staff
async def duty_command(turn: Turn, staff: Staff) -> None:
    word = fold(turn.event.args).replace(" ", "")
    if word in ON_WORDS:
        await _on(turn, staff)
    elif word in OFF_WORDS:
        await _off(turn, staff)
    elif not word:
        await _status(turn, staff)
    else:
        turn.say(turn.gettext("Type /duty on when your shift starts and /duty off when it ends."))


# Whole messages only: a resident's sentence that merely starts with "trực" stays theirs.
@router.keyword("duty on", "trực on", "vào trực", "trực vào", "bắt đầu trực", "nhận ca")
@for_staff
async def typed_on(turn: Turn, staff: Staff) -> None:
    await _on(turn, staff)


@router.keyword(
    "duty off", "trực off", "hết trực", "ra trực", "trực ra", "kết thúc trực", "giao ca"
)
@for_staff
async def typed_off(turn: Turn, staff: Staff) -> None:
    await _off(turn, staff)


async def _status(turn: Turn, staff: Staff) -> None:
    counts = await tips.count_tips(staff)
    if await duty.is_on_duty(staff):
        state = turn.gettext("You are on duty. Type /duty off when your shift ends.")
    else:
        state = turn.gettext("You are off duty. Type /duty on when your shift starts.")
    turn.say(lines(state, counts_line(turn, counts)))


async def _on(turn: Turn, staff: Staff) -> None:
    started = await duty.duty_on(staff)
    unit = await officers.unit_of(staff)
    if started:
        state = turn.gettext("You are on duty: new tips of {unit} now come to you.", unit=unit.name)
    else:
        state = turn.gettext("You were already on duty.")
    counts = await tips.count_tips(staff)
    turn.say(
        lines(state, counts_line(turn, counts), turn.gettext("Type /tips to see the open tips."))
    )


async def _off(turn: Turn, staff: Staff) -> None:
    handover = await duty.duty_off(staff)
    if handover is None:
        turn.say(turn.gettext("You were not on duty."))
        return
    summary = turn.gettext(
        "You are off duty. Handover: {open} open tips, {new} not acknowledged, {overdue} overdue.",
        open=handover.open,
        new=handover.new,
        overdue=handover.overdue,
    )
    if handover.still_on_duty:
        others = turn.gettext(
            "Colleagues still on duty: {count}; they were sent this summary.",
            count=handover.still_on_duty,
        )
    else:
        others = turn.gettext(
            "Nobody else is on duty now: new tips go to every officer of the unit."
        )
    mine = None
    if handover.mine:
        mine = "\n".join(
            [turn.gettext("Your open tips:"), *(tip_line(turn, tip) for tip in handover.mine)]
        )
    turn.say(lines(summary, others, mine), buttons=open_buttons(handover.mine))
