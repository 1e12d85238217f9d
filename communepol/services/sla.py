"""Deadlines and escalation: silence on a tip cannot go unnoticed.

Every tip gets two deadlines when it arrives — first response and resolution — from the
`SlaPolicy` of its urgency at the nearest unit up its tree that has one, else from
`DEFAULTS` (urgent categories — a fight in progress, a missing child, money leaving a bank
account — get minutes, not hours). The ticker calls `escalate_due` every half minute: an open
tip past a deadline is sent, as a card, to the supervisors of its unit's parent (the nearest
ancestor that has any), again every ``escalation_repeat_minutes`` while it stays overdue; each
escalation is claimed with one conditional UPDATE (so two processes never both send it) and
recorded as a `TipEvent` and an audit record.

`response_times` is the figure a supervisors' board shows per commune: tips received, median
and 90th percentile minutes to the first response, and how many open tips are overdue.
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    SlaPolicy,
    Staff,
    Tip,
    TipEvent,
    Unit,
    UnitLevel,
    Urgency,
)
from communepol.errors import ValidationError
from communepol.i18n import _
from communepol.services import audit, scope
from communepol.services.units import subtree_q

ESCALATE_BATCH = 200


@dataclass(frozen=True)
class Policy:
    first_response: timedelta
    resolution: timedelta
    repeat: timedelta


def _minutes(first: int, resolution: int, repeat: int) -> Policy:
    return Policy(
        timedelta(minutes=first), timedelta(minutes=resolution), timedelta(minutes=repeat)
    )


DEFAULTS: dict[Urgency, Policy] = {
    Urgency.CRITICAL: _minutes(10, 24 * 60, 10),
    Urgency.HIGH: _minutes(60, 3 * 24 * 60, 30),
    Urgency.NORMAL: _minutes(8 * 60, 14 * 24 * 60, 4 * 60),
    Urgency.LOW: _minutes(48 * 60, 30 * 24 * 60, 24 * 60),
}


@dataclass(frozen=True)
class Deadlines:
    first_response: datetime
    resolution: datetime


def lineage(unit: Unit) -> list[int]:
    """``unit`` and its ancestors, nearest first."""
    above = [int(part) for part in unit.path.strip("/").split("/") if part]
    return [unit.id, *reversed(above)]


async def policy_for(unit: Unit, urgency: Urgency) -> Policy:
    chain = lineage(unit)
    rows = {
        row.unit_id: row  # type: ignore[attr-defined]
        for row in await SlaPolicy.filter(unit_id__in=chain, urgency=urgency)
    }
    for unit_id in chain:
        if unit_id in rows:
            row = rows[unit_id]
            return _minutes(
                row.first_response_minutes, row.resolution_minutes, row.escalation_repeat_minutes
            )
    return DEFAULTS[urgency]


async def deadlines(unit: Unit, urgency: Urgency, now: datetime) -> Deadlines:
    policy = await policy_for(unit, urgency)
    return Deadlines(now + policy.first_response, now + policy.resolution)


async def set_policy(
    unit: Unit,
    urgency: Urgency | str,
    first_response_minutes: int,
    resolution_minutes: int,
    repeat_minutes: int,
    *,
    actor_label: str = "cli",
) -> SlaPolicy:
    """Set the deadlines of ``urgency`` for ``unit`` and everything below it that has none."""
    try:
        level = Urgency(urgency)
    except ValueError as err:
        raise ValidationError(_("urgency: critical, high, normal or low"), field="urgency") from err
    # One message per deadline, whole: its name is words to translate, not a value.
    for name, value, refusal in (
        (
            "first response",
            first_response_minutes,
            _("first response: 1 minute to 1 year, in minutes"),
        ),
        ("resolution", resolution_minutes, _("resolution: 1 minute to 1 year, in minutes")),
        ("repeat", repeat_minutes, _("repeat: 1 minute to 1 year, in minutes")),
    ):
        if not 1 <= value <= 365 * 24 * 60:
            raise ValidationError(refusal, field=name)
    if resolution_minutes < first_response_minutes:
        raise ValidationError(
            _("resolution cannot come before the first response"), field="resolution"
        )
    row, _created = await SlaPolicy.update_or_create(
        unit=unit,
        urgency=level,
        defaults={
            "first_response_minutes": first_response_minutes,
            "resolution_minutes": resolution_minutes,
            "escalation_repeat_minutes": repeat_minutes,
        },
    )
    await audit.record(
        "sla.policy_set",
        actor_label=actor_label,
        object_type="unit",
        object_id=unit.id,
        unit_id=unit.id,
        source=actor_label,
        data={
            "urgency": level.value,
            "first": first_response_minutes,
            "resolution": resolution_minutes,
            "repeat": repeat_minutes,
        },
    )
    return row


async def escalation_targets(unit: Unit) -> list[Staff]:
    """The supervisors (and admins) of the nearest ancestor of ``unit`` that has any."""
    for unit_id in lineage(unit)[1:]:
        people = list(
            await Staff.filter(
                unit_id=unit_id, role__in=scope.APPROVER_ROLES, active=True
            ).order_by("id")
        )
        if people:
            return people
    return []


def _overdue(now: datetime) -> Q:
    return Q(status__in=OPEN_TIP_STATUSES) & (
        Q(first_response_at__isnull=True, first_response_due_at__lte=now)
        | Q(resolution_due_at__lte=now)
    )


async def _overdue_tips(now: datetime) -> AsyncIterator[tuple[Tip, Unit]]:
    """Every overdue tip with its unit, in batches by id: all of them are looked at on every
    tick, so tips waiting for their repeat interval never hide others that are due."""
    after = 0
    while True:
        batch = (
            await Tip.filter(_overdue(now), id__gt=after)
            .order_by("id")
            .limit(ESCALATE_BATCH)
            .prefetch_related("unit")
        )
        for tip in batch:
            yield tip, tip.unit
        if len(batch) < ESCALATE_BATCH:
            return
        after = batch[-1].id


async def escalate_due(keyring: Keyring, now: datetime | None = None) -> int:
    """Escalate every overdue tip whose last escalation is older than its repeat interval;
    how many escalations were sent."""
    from communepol.services import tipcards, tips  # tips imports this module

    now = now or utcnow()
    sent = 0
    policies: dict[tuple[int, Urgency], Policy] = {}  # looked up once per tick
    async for tip, unit in _overdue_tips(now):
        key = (unit.id, tip.urgency)
        if key not in policies:
            policies[key] = await policy_for(unit, tip.urgency)
        if tip.last_escalated_at is not None and tip.last_escalated_at + policies[key].repeat > now:
            continue
        async with in_transaction(raw.connection(Tip).connection_name):
            claimed = await Tip.filter(id=tip.id, escalation_level=tip.escalation_level).update(
                escalation_level=tip.escalation_level + 1, last_escalated_at=now
            )
            if not claimed:
                continue  # another process escalated it meanwhile
            tip.escalation_level += 1
            tip.last_escalated_at = now
            people = await escalation_targets(unit)
            which = (
                "first_response"
                if tip.first_response_at is None
                and tip.first_response_due_at is not None
                and tip.first_response_due_at <= now
                else "resolution"
            )
            await TipEvent.create(
                tip=tip,
                kind="escalated",
                data={
                    "level": tip.escalation_level,
                    "deadline": which,
                    "to": [person.id for person in people],
                },
            )
            await audit.record(
                "tip.escalated",
                actor_label="ticker",
                object_type="tip",
                object_id=tip.id,
                unit_id=unit.id,
                source="ticker",
                data={"level": tip.escalation_level, "deadline": which, "people": len(people)},
            )
            await tips.notify_responders(
                keyring,
                tip,
                people,
                f"esc:{tip.escalation_level}",
                headline=tipcards.ESCALATED,
            )
            sent += 1
    return sent


@dataclass(frozen=True)
class ResponseTime:
    unit_id: int
    unit_name: str
    received: int
    answered: int
    median_minutes: float | None
    p90_minutes: float | None
    open: int
    overdue: int


async def response_times(
    staff: Staff, *, since: datetime | None = None, now: datetime | None = None
) -> list[ResponseTime]:
    """`response_times_for_unit` of ``staff``'s own unit: what their board shows."""
    own = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(staff, own)
    return await response_times_for_unit(own, since=since, now=now)


async def response_times_for_unit(
    unit: Unit, *, since: datetime | None = None, now: datetime | None = None
) -> list[ResponseTime]:
    """Per commune under ``unit`` (or ``unit`` itself, a commune), by name: tips received
    since ``since`` (30 days by default), how long the first response took (median and 90th
    percentile minutes), and the open and overdue tips now."""
    now = now or utcnow()
    since = since or now - timedelta(days=30)
    if unit.level is UnitLevel.COMMUNE:
        communes = [unit]
    else:
        communes = list(
            await Unit.filter(subtree_q(unit), level=UnitLevel.COMMUNE).order_by("name", "id")
        )
    ids = [commune.id for commune in communes]
    waits: dict[int, list[float]] = {unit_id: [] for unit_id in ids}
    received = dict.fromkeys(ids, 0)
    rows = await Tip.filter(unit_id__in=ids, created_at__gte=since).values_list(
        "unit_id", "created_at", "first_response_at"
    )
    for unit_id, created, answered in rows:
        received[unit_id] += 1
        if answered is not None:
            waits[unit_id].append((answered - created).total_seconds() / 60)
    opened = dict.fromkeys(ids, 0)
    overdue = dict.fromkeys(ids, 0)
    open_rows = await Tip.filter(unit_id__in=ids, status__in=OPEN_TIP_STATUSES).values_list(
        "unit_id", "first_response_at", "first_response_due_at", "resolution_due_at"
    )
    for unit_id, answered, first_due, resolution_due in open_rows:
        opened[unit_id] += 1
        if (answered is None and first_due is not None and first_due <= now) or (
            resolution_due is not None and resolution_due <= now
        ):
            overdue[unit_id] += 1
    figures = []
    for commune in communes:
        values = sorted(waits[commune.id])
        figures.append(
            ResponseTime(
                unit_id=commune.id,
                unit_name=commune.name,
                received=received[commune.id],
                answered=len(values),
                median_minutes=round(statistics.median(values), 1) if values else None,
                p90_minutes=round(values[min(len(values) - 1, int(0.9 * len(values)))], 1)
                if values
                else None,
                open=opened[commune.id],
                overdue=overdue[commune.id],
            )
        )
    return figures
