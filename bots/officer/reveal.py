"""Asking who sent an anonymous tip, and deciding such a request: ``/reveal`` (``/danhtinh``).

- ``/reveal T-7K3M9P`` asks for the reason (at least `reveal.MIN_REASON` characters), then
  files the request; the supervisors above the tip are told in their bot.
- ``/reveal`` alone lists, for a supervisor, the requests waiting for their decision
  (Approve / Refuse: ``rv:<id>:y`` / ``rv:<id>:n``) and, for the requester, their approved
  requests (Show: ``rv:<id>:show``), which is the only place the identity is ever shown.

Everything is decided by `communepol.services.reveal`, which audits each step and each look.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.officer.common import FLOW_PREFIX, for_staff, reference, services
from communepol.db.models import RevealRequest, Staff
from communepol.ports import Button
from communepol.services import reveal, tips
from communepol.services.tipcards import reference_of

router = Router()

REASON_FLOW = f"{FLOW_PREFIX}reveal"
REASON = "reason"


def _cancel(turn: Turn) -> list[list[Button]]:
    return [[Button(turn.gettext("Cancel"), "rv:cancel")]]


@router.command("reveal", "danhtinh")
@for_staff
async def reveal_command(turn: Turn, staff: Staff) -> None:
    turn.end()
    typed = turn.event.args.strip()
    if typed:
        tip = await tips.access_tip(staff, typed)
        turn.go(REASON_FLOW, REASON, tip=tip.id)
        turn.say(
            turn.gettext(
                "Why must the sender of tip {reference} be known? A supervisor decides, and "
                "the request and its reason are kept in the audit log. Type the reason "
                "(at least {count} characters).",
                reference=reference_of(tip),
                count=reveal.MIN_REASON,
            ),
            buttons=_cancel(turn),
        )
        return
    waiting = await reveal.waiting_for(staff)
    approved = await reveal.approved_for(staff)
    if not waiting and not approved:
        turn.say(
            turn.gettext(
                "No request waits for you. To ask who sent an anonymous tip, type /reveal "
                "followed by its number."
            )
        )
        return
    if waiting:
        turn.say(
            "\n\n".join(
                [turn.gettext("Requests waiting for your decision:")]
                + [_item(turn, request) for request in waiting]
            ),
            buttons=[
                [
                    Button(turn.gettext("Approve #{id}", id=r.id), f"rv:{r.id}:y"),
                    Button(turn.gettext("Refuse #{id}", id=r.id), f"rv:{r.id}:n"),
                ]
                for r in waiting
            ],
        )
    if approved:
        turn.say(
            turn.gettext("Your approved requests:"),
            buttons=[
                [
                    Button(
                        turn.gettext(
                            "Show the sender of {reference}", reference=reference_of(r.tip)
                        ),
                        f"rv:{r.id}:show",
                    )
                ]
                for r in approved
            ],
        )


def _item(turn: Turn, request: RevealRequest) -> str:
    return turn.gettext(
        "#{id} · tip {reference} · asked by {name}\nReason: {reason}",
        id=request.id,
        reference=reference_of(request.tip),
        name=request.requested_by.full_name,
        reason=request.reason,
    )


@router.step(REASON_FLOW, REASON)
@for_staff
async def reason_typed(turn: Turn, staff: Staff) -> None:
    tip_id = turn.data.get("tip")
    reason = (turn.event.text or "").strip()
    if not isinstance(tip_id, int):
        turn.end()
        return
    if len(reason) < reveal.MIN_REASON:
        turn.say(
            turn.gettext(
                "The reason must say why, in at least {count} characters. Type it again, or "
                "press Cancel.",
                count=reveal.MIN_REASON,
            ),
            buttons=_cancel(turn),
        )
        return
    turn.end()
    request = await reveal.request_reveal(staff, tip_id, reason)
    turn.say(
        turn.gettext(
            "Request #{id} is filed; you are told here when a supervisor decides.",
            id=request.id,
        )
    )


@router.action("rv")
@for_staff
async def decided(turn: Turn, staff: Staff) -> None:
    parts = (turn.event.action or "").split(":")
    if parts[1:] == ["cancel"]:
        turn.end()
        turn.say(turn.gettext("Nothing was asked."))
        return
    request_id = reference(turn.event.action, 1)
    if request_id is None or len(parts) != 3:
        return
    keyring = services(turn).keyring
    if parts[2] == "show":
        identity = await reveal.revealed_identity(keyring, staff, request_id)
        turn.say(turn.gettext("Request #{id}: the sender is {who}.", id=request_id, who=identity))
        return
    approve = parts[2] == "y"
    await reveal.decide_reveal(keyring, staff, request_id, approve)
    turn.say(
        turn.gettext("Request #{id} approved; its requester is told.", id=request_id)
        if approve
        else turn.gettext("Request #{id} refused; its requester is told.", id=request_id)
    )
