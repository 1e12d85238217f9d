"""What the admin web's screens read about a staff member's unit: the communes they may pick,
a commune's coverage, and the dashboard figures.

Every function takes the staff member and stays inside their scope (`services.scope`: their
unit's subtree); a commune outside it is `NotFound`, exactly like one that does not exist.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.expressions import Q

from communepol.clock import utcnow
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    Follow,
    FollowStatus,
    Household,
    Publication,
    Staff,
    Tip,
    Unit,
    UnitLevel,
)
from communepol.errors import NotFound
from communepol.services import breachwatch, coverage, scope, sla, tips
from communepol.services.units import subtree_prefix, subtree_q

RECENT = timedelta(days=30)


async def own_unit(staff: Staff) -> Unit:
    unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(staff, unit)  # a deactivated account sees nothing
    return unit


async def communes_for(staff: Staff) -> list[Unit]:
    """The communes in ``staff``'s scope, by name: their own (an officer) or every commune of
    their subtree (a supervisor)."""
    unit = await own_unit(staff)
    if unit.level is UnitLevel.COMMUNE:
        return [unit]
    return list(await Unit.filter(subtree_q(unit), level=UnitLevel.COMMUNE).order_by("name", "id"))


async def commune_for(staff: Staff, commune_id: int | None) -> Unit | None:
    """The commune ``commune_id`` of ``staff``'s scope; None when none was chosen and there is
    more than one to choose from. An id outside the scope, or not a commune, is `NotFound`."""
    communes = await communes_for(staff)
    if commune_id is None:
        return communes[0] if len(communes) == 1 else None
    for commune in communes:
        if commune.id == commune_id:
            return commune
    raise NotFound("not found")


async def hamlets_of(staff: Staff, commune_id: int) -> list[Unit]:
    """The hamlets of a commune in ``staff``'s scope, by name."""
    commune = await commune_for(staff, commune_id)
    if commune is None:
        raise NotFound("not found")
    return list(await Unit.filter(parent_id=commune.id, level=UnitLevel.HAMLET).order_by("name"))


async def commune_coverage(staff: Staff, commune_id: int) -> coverage.Coverage:
    """`coverage.coverage` with the unreached households' hamlets loaded (for the list)."""
    commune = await commune_for(staff, commune_id)
    if commune is None:
        raise NotFound("not found")
    result = await coverage.coverage(staff, commune.id)
    hamlets = {
        unit.id: unit for unit in await Unit.filter(parent_id=commune.id, level=UnitLevel.HAMLET)
    }
    for household in result.unreached:
        household.hamlet = hamlets[household.hamlet_id]  # type: ignore[attr-defined]
    return result


@dataclass
class Bar:
    """One commune in a chart: its label, its value and the bar's share of the longest."""

    label: str
    value: float
    share: float = 0.0


@dataclass
class Dashboard:
    unit: Unit
    open_tips: int
    overdue_tips: int
    received: int
    answered: int
    response_bars: list[Bar]  # median minutes to the first response, per commune
    followers: int
    published: int
    coverage: coverage.Figures
    communes_with_households: int
    since: datetime
    overdue_bars: list[Bar] = field(default_factory=list)
    # Over every tip received since ``since`` in the unit's communes (None: none answered).
    median_first_response_minutes: float | None = None
    median_resolution_minutes: float | None = None
    followers_gained: int = 0  # follows that began since ``since`` (kept or stopped since)
    followers_lost: int = 0  # follows stopped since ``since``
    # The breach watch's alerts of the last day about staff of the subtree (supervisors and
    # admins only): a banner linking to the audit log.
    security_alerts: list[breachwatch.SecurityAlert] = field(default_factory=list)


def _scaled(bars: list[Bar]) -> list[Bar]:
    top = max((bar.value for bar in bars), default=0.0)
    for bar in bars:
        bar.share = bar.value / top if top else 0.0
    return bars


async def _communes_of(unit: Unit) -> list[Unit]:
    """``unit`` itself when it is a commune, else the communes below it, by name."""
    if unit.level is UnitLevel.COMMUNE:
        return [unit]
    return list(await Unit.filter(subtree_q(unit), level=UnitLevel.COMMUNE).order_by("name", "id"))


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


async def dashboard(
    staff: Staff, unit_id: int | None = None, *, now: datetime | None = None, bars: int = 12
) -> Dashboard:
    """The figures of a unit in ``staff``'s scope (by default their own): open and overdue
    tips (the unit's subtree's and those routed to it), tips received and answered in the last
    30 days with each commune's median minutes to the first response and the medians over all
    of them to the first response and to resolution, active follows of the unit's pages and
    how they changed in those 30 days, publications of the last 30 days, and household
    coverage summed over the communes that registered households, and (for supervisors and
    admins) the security alerts of the last 24 hours in their subtree. Another unit is
    `NotFound`."""
    now = now or utcnow()
    since = now - RECENT
    unit = await own_unit(staff)
    if unit_id is not None and unit_id != unit.id:
        chosen = await Unit.get_or_none(id=unit_id)
        if chosen is None:
            raise NotFound("not found")
        await scope.require_unit(staff, chosen)
        unit = chosen
    base = Tip.filter(await tips.unit_scope_q(unit), status__in=OPEN_TIP_STATUSES)
    late = Q(first_response_at__isnull=True, first_response_due_at__lte=now) | Q(
        resolution_due_at__lte=now
    )  # as `tips.count_tips` counts them
    times = await sla.response_times_for_unit(unit, since=since, now=now)
    answered = [row for row in times if row.median_minutes is not None]
    slowest = sorted(answered, key=lambda row: (-(row.median_minutes or 0), row.unit_name))
    overdue = sorted(
        (row for row in times if row.overdue), key=lambda row: (-row.overdue, row.unit_name)
    )
    communes = await _communes_of(unit)
    first_waits: list[float] = []
    resolutions: list[float] = []
    for created, first, resolved in await Tip.filter(
        unit_id__in=[c.id for c in communes], created_at__gte=since
    ).values_list("created_at", "first_response_at", "resolved_at"):
        if first is not None:
            first_waits.append((first - created).total_seconds() / 60)
        if resolved is not None:
            resolutions.append((resolved - created).total_seconds() / 60)
    prefix = subtree_prefix(unit)
    pages = Q(page__unit_id=unit.id) | Q(page__unit__path__startswith=prefix)
    follows = Follow.filter(pages, status=FollowStatus.ACTIVE)
    gained = Follow.filter(
        pages,
        status__in=(FollowStatus.ACTIVE, FollowStatus.STOPPED),
        followed_at__gte=since,
        followed_at__lte=now,
    )
    lost = Follow.filter(
        pages, status=FollowStatus.STOPPED, stopped_at__gte=since, stopped_at__lte=now
    )
    published = Publication.filter(
        Q(post__page__unit_id=unit.id) | Q(post__page__unit__path__startswith=prefix),
        occurrence_at__gte=since,
        occurrence_at__lte=now,
    )
    with_households = set(
        await Household.filter(hamlet__parent_id__in=[c.id for c in communes])
        .distinct()
        .values_list("hamlet__parent_id", flat=True)
    )
    total = coverage.Figures(unit.name)
    for commune in communes:
        if commune.id not in with_households:
            continue
        figures = (await coverage.coverage_of(commune)).commune
        total.registered += figures.registered
        total.own += figures.own
        total.shared += figures.shared
        total.confirmed += figures.confirmed
    return Dashboard(
        unit=unit,
        open_tips=await base.count(),
        overdue_tips=await base.filter(late).count(),
        received=sum(row.received for row in times),
        answered=sum(row.answered for row in times),
        response_bars=_scaled(
            [Bar(row.unit_name, row.median_minutes or 0.0) for row in slowest[:bars]]
        ),
        followers=await follows.count(),
        published=await published.count(),
        coverage=total,
        communes_with_households=len(with_households),
        since=since,
        overdue_bars=_scaled([Bar(row.unit_name, row.overdue) for row in overdue[:bars]]),
        median_first_response_minutes=_median(first_waits),
        median_resolution_minutes=_median(resolutions),
        followers_gained=await gained.count(),
        followers_lost=await lost.count(),
        security_alerts=await breachwatch.recent_alerts(staff, now=now),
    )
