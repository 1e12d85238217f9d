"""Reads of the tip desk for staff outside the bot (the REST API): a filtered, paged list of the
tips in a staff member's scope, a tip's card with its thread, and the response-time board of a
unit in their scope.

Scope is decided where the bot's lists decide it: `tips.scope_q` for lists, `tips.access_tip`
for one tip, `scope.require_unit` for a unit. A unit or tip outside the scope is `NotFound`,
exactly like one that does not exist. Nothing here names a sender beyond what
`tips.sender_label` gives officers (the alias of an anonymous tip, or the name the resident
agreed to show), and nothing returns a platform identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    Staff,
    Tip,
    TipCategory,
    TipMessage,
    TipStatus,
    Unit,
)
from communepol.errors import NotFound, ValidationError
from communepol.i18n import _
from communepol.services import breachwatch, scope, sla, tips

MAX_PAGE = 100
THREAD_LIMIT = 50
OPEN = "open"  # the status filter meaning "any open status"


@dataclass(frozen=True)
class TipPage:
    items: list[Tip]
    next_offset: int | None


@dataclass(frozen=True)
class TipView:
    """What a tip's card shows: the tip (with its unit and assignee), the sender as officers
    may see them, and the latest messages of its thread, oldest first."""

    tip: Tip
    sender: str
    thread: list[TipMessage]
    overdue: bool


async def unit_in_scope(staff: Staff, unit_id: int) -> Unit:
    """The unit ``unit_id`` if ``staff`` may see it; `NotFound` otherwise."""
    unit = await Unit.get_or_none(id=unit_id)
    if unit is None:
        raise NotFound("not found")
    await scope.require_unit(staff, unit)
    return unit


def _overdue_q(now: datetime) -> Q:
    return Q(status__in=OPEN_TIP_STATUSES) & (
        Q(first_response_at__isnull=True, first_response_due_at__lte=now)
        | Q(resolution_due_at__lte=now)
    )


async def search_tips(
    staff: Staff,
    *,
    status: str | None = None,
    category: str | None = None,
    unit_id: int | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> TipPage:
    """Tips in ``staff``'s scope, newest first, filtered by status (a tip status, or ``open``
    for any open one), category, unit (its subtree and the tips routed to it; the unit must be
    in the scope) and whether a deadline has passed."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(_("limit is 1 to {limit}"), field="limit", limit=MAX_PAGE)
    if offset < 0:
        raise ValidationError(_("offset is 0 or more"), field="offset")
    query: QuerySet[Tip] = Tip.filter(await tips.scope_q(staff))
    if status == OPEN:
        query = query.filter(status__in=OPEN_TIP_STATUSES)
    elif status is not None:
        try:
            query = query.filter(status=TipStatus(status))
        except ValueError as err:
            raise ValidationError(_("unknown tip status"), field="status") from err
    if category is not None:
        try:
            query = query.filter(category=TipCategory(category))
        except ValueError as err:
            raise ValidationError(_("unknown tip category"), field="category") from err
    if unit_id is not None:
        query = query.filter(await tips.unit_scope_q(await unit_in_scope(staff, unit_id)))
    if overdue is not None:
        late = _overdue_q(utcnow())
        query = query.filter(late) if overdue else query.filter(~late)
    rows = list(
        await query.order_by("-id").offset(offset).limit(limit + 1).prefetch_related("unit")
    )
    more = len(rows) > limit
    return TipPage(rows[:limit], offset + limit if more else None)


async def tip_view(
    keyring: Keyring, staff: Staff, ref: int | str, *, source: str = "api", ip: str | None = None
) -> TipView:
    """The card of tip ``ref`` if ``staff`` may see it; `NotFound` otherwise. Reading it is
    audited (`breachwatch.record_tip_read`): it shows the tip's text and its sender."""
    tip = await tips.access_tip(staff, ref, source=source, ip=ip)
    await tip.fetch_related("assignee")
    view = TipView(
        tip=tip,
        sender=await tips.sender_label(keyring, tip),
        thread=await tips.thread(staff, tip.id, limit=THREAD_LIMIT),
        overdue=tips.is_overdue(tip),
    )
    await breachwatch.record_tip_read(staff, tip, source=source, ip=ip)
    return view


@dataclass(frozen=True)
class Board:
    unit: Unit
    since: datetime
    rows: list[sla.ResponseTime]


async def board(
    staff: Staff, unit_id: int | None = None, *, days: int = 30, now: datetime | None = None
) -> Board:
    """The response-time board of ``unit_id`` (by default the staff member's own unit) over the
    last ``days`` days: per commune, received, answered, median and p90 minutes, open, overdue."""
    if not 1 <= days <= 366:
        raise ValidationError(_("days is 1 to 366"), field="days")
    own: int = staff.unit_id  # type: ignore[attr-defined]
    unit = await unit_in_scope(staff, own if unit_id is None else unit_id)
    now = now or utcnow()
    since = now - timedelta(days=days)
    return Board(unit, since, await sla.response_times_for_unit(unit, since=since, now=now))


__all__ = [
    "OPEN",
    "Board",
    "TipPage",
    "TipView",
    "board",
    "search_tips",
    "tip_view",
    "unit_in_scope",
]
