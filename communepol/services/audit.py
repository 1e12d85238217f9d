"""The audit trail: the only writer of `AuditEvent`.

Values are flattened to short single-line strings before they are stored — a newline or an
ANSI escape typed into a name cannot forge a second log line — and the caller never passes
tip text, credentials or platform identities (the function has no parameter for them).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from tortoise.expressions import Q

from communepol.db.models import AuditEvent, Role, Staff, Unit
from communepol.errors import PermissionDenied
from communepol.i18n import _
from communepol.services import scope
from communepol.services.units import subtree_q

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_VALUE = 200


def _flat(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)[:MAX_VALUE]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _flat(str(value))


async def record(
    action: str,
    *,
    actor: Staff | None = None,
    actor_label: str | None = None,
    object_type: str | None = None,
    object_id: int | str | None = None,
    unit_id: int | None = None,
    source: str = "system",
    ip: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. ``actor_label`` names a non-staff actor ("cli", "demo", "ticker")."""
    label = actor.full_name if actor is not None else (actor_label or source)
    return await AuditEvent.create(
        actor_staff_id=actor.id if actor is not None else None,
        actor_label=_flat(label),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        unit_id=unit_id,
        source=source,
        ip=ip,
        data={str(k): _flat(v) for k, v in (data or {}).items()},
    )


# --- reading the trail (the admin web) ---------------------------------------------------------

PER_PAGE = 50
EXPORT_MAX = 10_000
FILTER_MAX = 100  # characters of a typed filter


@dataclass(frozen=True)
class AuditQuery:
    """What to show: an action (exact, or every action under a prefix ending in "."), an
    actor (part of their name or label, case-insensitive), and dates in the reader's zone."""

    action: str = ""
    actor: str = ""
    since: date | None = None
    until: date | None = None  # inclusive


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int
    actions: list[str]  # the actions of the scope, for the filter's choices


async def _scoped(staff: Staff, query: AuditQuery, zone: tzinfo) -> tuple[Any, Q]:
    """The events of the units in ``staff``'s subtree matching ``query``; a supervisor's or an
    admin's only. Events with no unit (sign-ins, the server's operator) belong to the top
    unit's admin."""
    if staff.role not in scope.APPROVER_ROLES:
        raise PermissionDenied(_("only a supervisor or an admin reads the audit log"))
    own = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(staff, own)
    units = list(await Unit.filter(subtree_q(own)).values_list("id", flat=True))
    within = Q(unit_id__in=units)
    if own.parent_id is None and staff.role is Role.ADMIN:  # type: ignore[attr-defined]
        within |= Q(unit_id__isnull=True)
    found = AuditEvent.filter(within)
    action = query.action.strip()[:FILTER_MAX]
    if action.endswith("."):
        found = found.filter(action__startswith=action)
    elif action:
        found = found.filter(action=action)
    actor = query.actor.strip()[:FILTER_MAX]
    if actor:
        found = found.filter(actor_label__icontains=actor)
    if query.since is not None:
        start = datetime.combine(query.since, time.min, tzinfo=zone)
        found = found.filter(at__gte=start.astimezone(UTC))  # stored in UTC
    if query.until is not None:
        end = datetime.combine(query.until + timedelta(days=1), time.min, tzinfo=zone)
        found = found.filter(at__lt=end.astimezone(UTC))
    return found, within


async def events_in_scope(
    staff: Staff, query: AuditQuery, *, zone: tzinfo, page: int = 1, per_page: int = PER_PAGE
) -> AuditPage:
    """One page of the trail of ``staff``'s units, newest first."""
    found, within = await _scoped(staff, query, zone)
    total = await found.count()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    events = await found.order_by("-at", "-id").offset((page - 1) * per_page).limit(per_page)
    actions = sorted(
        set(await AuditEvent.filter(within).distinct().values_list("action", flat=True))
    )
    return AuditPage(list(events), total, page, pages, [str(a) for a in actions])


EXPORT_HEADER = ["at", "action", "actor", "source", "object_type", "object_id", "unit_id", "data"]


async def export_in_scope(
    staff: Staff, query: AuditQuery, *, zone: tzinfo, ip: str | None = None, source: str = "web"
) -> list[list[str]]:
    """The rows of a CSV export of the trail (at most `EXPORT_MAX`, newest first), header
    first; the export itself is recorded. Cells are raw: write them with
    `communepol.spreadsheet.csv_text`, which neutralises formulas."""
    found, _where = await _scoped(staff, query, zone)
    events = await found.order_by("-at", "-id").limit(EXPORT_MAX)
    rows = [list(EXPORT_HEADER)]
    for event in events:
        rows.append(
            [
                event.at.astimezone(zone).isoformat(timespec="seconds"),
                event.action,
                event.actor_label,
                event.source,
                event.object_type or "",
                event.object_id or "",
                "" if event.unit_id is None else str(event.unit_id),
                json.dumps(event.data, ensure_ascii=False, sort_keys=True) if event.data else "",
            ]
        )
    await record(
        "audit.exported",
        actor=staff,
        object_type="unit",
        object_id=staff.unit_id,  # type: ignore[attr-defined]
        unit_id=staff.unit_id,  # type: ignore[attr-defined]
        source=source,
        ip=ip,
        data={
            "rows": len(events),
            "action": query.action[:FILTER_MAX],
            "actor": query.actor[:FILTER_MAX],
            "since": query.since.isoformat() if query.since else "",
            "until": query.until.isoformat() if query.until else "",
        },
    )
    return rows
