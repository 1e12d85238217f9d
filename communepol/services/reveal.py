"""Revealing who sent an anonymous tip: a separate, audited action with a stated reason and a
second approver.

An officer who may see a tip (`tips.access_tip`) asks with a reason of at least
`MIN_REASON` characters (`request_reveal`); the supervisors and admins above the tip's unit are
told. One of them — never the requester — approves or refuses it, once (`decide_reveal`).
Only the requester of an approved request is then told who sent the tip (`revealed_identity`),
and every reading is audited again. The audit trail records who asked, why, who decided and
who read — never the identity itself.

Nothing else opens the vault for a person: replies go through `vault.tell_tipster` without
anyone learning whom they reach.
"""

from __future__ import annotations

from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    Household,
    RevealRequest,
    Staff,
    Tip,
    Unit,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import N_, _
from communepol.services import audit, notices, scope, tips, vault
from communepol.services.contacts import open_identity
from communepol.text import clean_message

MIN_REASON = 20
MAX_REASON = 1000

REVEAL_WAITING = N_(
    "{name} asks to know who sent the anonymous tip {reference} (request #{id}). Reason: {reason}"
)
REVEAL_APPROVED = N_(
    "Your request #{id} to know who sent tip {reference} was approved. "
    "The identity is shown to you only, and each look is recorded."
)
REVEAL_REFUSED = N_("Your request #{id} to know who sent tip {reference} was refused.")

# How a platform is named to the officer who may know the sender.
PLATFORM_NAMES = {
    ChannelKind.TELEGRAM: "Telegram",
    ChannelKind.ZALO_OA: "Zalo OA",
    ChannelKind.ZALO_BOT: "Zalo Bot",
    ChannelKind.WEBCHAT: "Web chat",
}


def _reference(tip: Tip) -> str:
    return f"T-{tip.reference}"


async def request_reveal(
    staff: Staff, tip_ref: int | str, reason: str, *, source: str = "bot"
) -> RevealRequest:
    """Ask to know who sent the anonymous tip ``tip_ref``, for ``reason``; the approvers above
    the tip's unit are told."""
    tip = await tips.access_tip(staff, tip_ref)
    if not tip.anonymous:
        raise ValidationError(
            _("this tip is not anonymous: its sender is named on it"), field="tip"
        )
    why = clean_message(reason)
    if len(why) < MIN_REASON:
        raise ValidationError(
            _("state the reason in at least {limit} characters"), field="reason", limit=MIN_REASON
        )
    if len(why) > MAX_REASON:
        raise ValidationError(_("at most {limit} characters"), field="reason", limit=MAX_REASON)
    unit: Unit = tip.unit
    async with in_transaction(raw.connection(RevealRequest).connection_name):
        if await RevealRequest.exists(
            tip_id=tip.id, requested_by_id=staff.id, decided_at__isnull=True
        ):
            raise Conflict(_("you already asked about this tip; it waits for a decision"))
        request = await RevealRequest.create(tip=tip, requested_by=staff, reason=why)
        await audit.record(
            "tip.reveal_requested",
            actor=staff,
            object_type="tip",
            object_id=tip.id,
            unit_id=unit.id,
            source=source,
            data={"request": request.id, "reason": why},
        )
        approvers = await notices.approvers_of([unit], besides=staff.id)
        await notices.notify(
            approvers,
            REVEAL_WAITING,
            f"reveal:{request.id}",
            name=staff.full_name,
            reference=_reference(tip),
            id=request.id,
            reason=why,
        )
    return request


async def _request(request_id: int) -> RevealRequest:
    request = await RevealRequest.get_or_none(id=request_id).prefetch_related("tip__unit")
    if request is None:
        raise NotFound("not found")
    return request


async def decide_reveal(
    keyring: Keyring, approver: Staff, request_id: int, approve: bool, *, source: str = "bot"
) -> RevealRequest:
    """Approve or refuse a request, once. The approver is a supervisor or admin above the
    tip's unit who did not ask; approving needs a sender who can still be named."""
    request = await _request(request_id)
    tip: Tip = request.tip
    # Out of scope is NotFound (the request's existence does not leak); in scope but an
    # officer is PermissionDenied.
    await scope.require_approver(approver, tip.unit)
    if approver.id == request.requested_by_id:  # type: ignore[attr-defined]
        raise PermissionDenied(_("a second person must decide your own request"))
    if request.decided_at is not None:
        raise Conflict(_("this request was already decided"))
    if approve and await vault.tipster_of(keyring, tip.id) is None:
        # Erased on request, or the link is gone: an approval would reveal nothing.
        raise Conflict(_("the sender of this tip can no longer be identified"))
    now = utcnow()
    async with in_transaction(raw.connection(RevealRequest).connection_name):
        # Two approvers pressing at once: only one decision is kept.
        decided = await RevealRequest.filter(id=request.id, decided_at__isnull=True).update(
            approved=approve, approved_by_id=approver.id, decided_at=now
        )
        if not decided:
            raise Conflict(_("this request was already decided"))
        await audit.record(
            "tip.reveal_approved" if approve else "tip.reveal_refused",
            actor=approver,
            object_type="tip",
            object_id=tip.id,
            unit_id=tip.unit.id,
            source=source,
            data={"request": request.id, "requested_by": request.requested_by_id},  # type: ignore[attr-defined]
        )
        requester = await Staff.get(id=request.requested_by_id)  # type: ignore[attr-defined]
        await notices.notify(
            [requester],
            REVEAL_APPROVED if approve else REVEAL_REFUSED,
            f"reveal:{request.id}:decided",
            id=request.id,
            reference=_reference(tip),
        )
    request.approved = approve
    request.approved_by = approver
    request.decided_at = now
    return request


async def revealed_identity(
    keyring: Keyring, staff: Staff, request_id: int, *, source: str = "bot"
) -> str:
    """Who sent the tip of an approved request — "display name (platform) — channel account"
    — for its requester alone; each reading is audited."""
    request = await _request(request_id)
    if request.requested_by_id != staff.id:  # type: ignore[attr-defined]
        raise NotFound("not found")
    # The requester must still be allowed to see the tip (they may have moved unit since).
    tip = await tips.access_tip(staff, request.tip.id)
    if request.approved is not True:
        raise PermissionDenied(
            _("this request was refused")
            if request.decided_at is not None
            else _("this request waits for a second person's approval")
        )
    contact = await vault.tipster_of(keyring, tip.id)
    if contact is None:
        raise NotFound(_("the sender of this tip can no longer be identified"))
    account = await ChannelAccount.get(id=contact.channel_account_id)  # type: ignore[attr-defined]
    identity = open_identity(keyring, contact)
    await audit.record(
        "tip.identity_read",
        actor=staff,
        object_type="tip",
        object_id=tip.id,
        unit_id=tip.unit.id,
        source=source,
        data={"request": request.id},
    )
    name = identity.display_name or "—"
    revealed = f"{name} ({PLATFORM_NAMES.get(account.kind, account.kind.value)}) — {account.name}"
    household_id = await vault.household_of(keyring, tip.id)
    household = (
        await Household.get_or_none(id=household_id).select_related("hamlet")
        if household_id is not None
        else None
    )
    if household is not None:
        # A shared household account: which of its households the tip is about.
        revealed += f" · {household.head_name}, {household.hamlet.name}"
    return revealed


async def waiting_for(staff: Staff, *, limit: int = 10) -> list[RevealRequest]:
    """Undecided requests ``staff`` may decide: on tips in their scope, asked by someone else;
    empty for anyone who is not a supervisor or an admin."""
    if staff.role not in scope.APPROVER_ROLES:
        return []
    rows = (
        await RevealRequest.filter(
            tips_in_scope(await tips.scope_q(staff)), decided_at__isnull=True
        )
        .exclude(requested_by_id=staff.id)
        .order_by("id")
        .limit(limit)
        .prefetch_related("tip", "requested_by")
    )
    return list(rows)


async def approved_for(staff: Staff, *, limit: int = 10) -> list[RevealRequest]:
    """``staff``'s own approved requests, newest first."""
    rows = (
        await RevealRequest.filter(requested_by_id=staff.id, approved=True)
        .order_by("-id")
        .limit(limit)
        .prefetch_related("tip")
    )
    return list(rows)


def tips_in_scope(condition: Q) -> Q:
    """``condition`` on tips (`tips.scope_q`), applied to a request's tip."""
    return Q(tip_id__in=Subquery(Tip.filter(condition).values("id")))


__all__ = [
    "MIN_REASON",
    "approved_for",
    "decide_reveal",
    "request_reveal",
    "revealed_identity",
    "waiting_for",
]
