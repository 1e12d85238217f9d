"""Duty: who of a unit is on shift, so new tips go to them first.

``/duty on`` opens a `DutyShift` for the officer's unit (at most one open shift per person);
``/duty off`` closes it with a handover summary of the unit's open tips — how many, how many
nobody has acknowledged, how many are overdue, which are the officer's own — which is stored
on the shift and shown to the officer, and sent to whoever is still on duty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.db import raw
from communepol.db.models import DutyShift, Staff, Tip, Unit, UnitLevel
from communepol.errors import NotFound
from communepol.i18n import N_
from communepol.services import audit, notices, scope, tips
from communepol.services import staff as roster
from communepol.services.units import subtree_q

HANDOVER = N_(
    "{name} went off duty. Open tips: {open}, not acknowledged: {new}, overdue: {overdue}."
)


@dataclass(frozen=True)
class Handover:
    open: int
    new: int
    overdue: int
    mine: list[Tip]
    still_on_duty: int


def _unit_id(staff: Staff) -> int:
    return int(staff.unit_id)  # type: ignore[attr-defined]


async def is_on_duty(staff: Staff) -> bool:
    return await DutyShift.exists(staff_id=staff.id, ended_at__isnull=True)


async def duty_on(staff: Staff, *, source: str = "bot", by: Staff | None = None) -> bool:
    """Start a shift; False when one was already open. ``by``: a supervisor starting it for
    ``staff`` (the duty board)."""
    async with in_transaction(raw.connection(DutyShift).connection_name):
        if await is_on_duty(staff):
            return False
        await DutyShift.create(staff=staff, unit_id=_unit_id(staff), started_at=utcnow())
        await audit.record(
            "duty.on",
            actor=by or staff,
            object_type="staff",
            object_id=staff.id,
            unit_id=_unit_id(staff),
            source=source,
        )
    return True


async def duty_off(
    staff: Staff, *, source: str = "bot", by: Staff | None = None
) -> Handover | None:
    """End the shift with its handover summary; None when the officer was not on duty.
    ``by``: a supervisor ending it for ``staff`` (the duty board)."""
    counts = await tips.count_tips(staff)
    mine = await tips.list_tips(staff, tips.TipList.MINE)
    async with in_transaction(raw.connection(DutyShift).connection_name):
        shifts = await DutyShift.filter(staff_id=staff.id, ended_at__isnull=True)
        if not shifts:
            return None
        note = (
            f"open={counts['open']} new={counts['new']} overdue={counts['overdue']} "
            f"mine={','.join('T-' + tip.reference for tip in mine)}"
        )
        await DutyShift.filter(id__in=[s.id for s in shifts]).update(
            ended_at=utcnow(), handover_note=note
        )
        others = [p for p in await tips.on_duty(staff.unit_id) if p.id != staff.id]  # type: ignore[attr-defined]
        await notices.notify(
            others,
            HANDOVER,
            f"handover:{shifts[0].id}",
            name=staff.full_name,
            open=counts["open"],
            new=counts["new"],
            overdue=counts["overdue"],
        )
        await audit.record(
            "duty.off",
            actor=by or staff,
            object_type="staff",
            object_id=staff.id,
            unit_id=_unit_id(staff),
            source=source,
            data=counts,
        )
    return Handover(counts["open"], counts["new"], counts["overdue"], mine, len(others))


# --- the duty board (admin web) -------------------------------------------------------------------


@dataclass(frozen=True)
class DutyRow:
    """One commune on the duty board: who is on shift now (since when) and who is not."""

    commune: Unit
    on_duty: list[tuple[Staff, datetime]]
    off_duty: list[Staff]


async def board(actor: Staff) -> list[DutyRow]:
    """Each commune of ``actor``'s subtree with its active staff, on shift or not."""
    own = await Unit.get(id=actor.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(actor, own)
    communes = await Unit.filter(subtree_q(own), level=UnitLevel.COMMUNE).order_by("name", "id")
    ids = [commune.id for commune in communes]
    people = await Staff.filter(unit_id__in=ids, active=True).order_by("full_name", "id")
    shifts = await DutyShift.filter(
        staff_id__in=[person.id for person in people], ended_at__isnull=True
    )
    since = {shift.staff_id: shift.started_at for shift in shifts}  # type: ignore[attr-defined]
    rows = []
    for commune in communes:
        mine = [person for person in people if person.unit_id == commune.id]  # type: ignore[attr-defined]
        rows.append(
            DutyRow(
                commune,
                [(person, since[person.id]) for person in mine if person.id in since],
                [person for person in mine if person.id not in since],
            )
        )
    return rows


async def start_for(actor: Staff, staff_id: int, *, source: str = "web") -> bool:
    """A supervisor or admin puts a staff member of their subtree on duty."""
    target = await roster.managed_staff(actor, staff_id)
    if not target.active:
        raise NotFound("not found")
    return await duty_on(target, source=source, by=actor)


async def end_for(actor: Staff, staff_id: int, *, source: str = "web") -> Handover | None:
    """A supervisor or admin ends a staff member's shift (with its handover summary)."""
    target = await roster.managed_staff(actor, staff_id)
    return await duty_off(target, source=source, by=actor)
