"""Coverage: which of a commune's registered households the station's posts and alerts reach.

A household is **reached through its own account** when its own contact is reachable, not
erased, and actively follows a page of the commune; otherwise **through a shared account** when
it is a confirmed, not removed member of an active household group whose representative is such
a contact; otherwise **not reached** — the list an officer takes on a home visit. For the latest
alert publication on the commune's pages, **confirmed** counts the households a shared account
said it told (`HouseholdRelayConfirmation`); `Coverage.alerts` gives the same count for each of
the commune's recent alerts.

Figures are per hamlet and for the commune; reading them needs the commune in the staff
member's scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from communepol.db.models import (
    Contact,
    Follow,
    FollowStatus,
    Household,
    HouseholdGroupMember,
    HouseholdRelayConfirmation,
    Page,
    Publication,
    Reachability,
    Staff,
    Unit,
    UnitLevel,
)
from communepol.errors import NotFound, ValidationError
from communepol.i18n import _
from communepol.services import scope

RECENT_ALERTS = 5  # alerts whose relay confirmations are counted


@dataclass
class Figures:
    name: str
    registered: int = 0
    own: int = 0
    shared: int = 0
    confirmed: int = 0

    @property
    def unreached(self) -> int:
        return self.registered - self.own - self.shared


@dataclass(frozen=True)
class AlertRelay:
    """One alert message on the commune's page and how many households were confirmed told."""

    publication_id: int
    headline: str
    sent_at: datetime
    confirmed: int


@dataclass
class Coverage:
    commune: Figures
    hamlets: list[Figures]
    unreached: list[Household] = field(default_factory=list)
    alert_publication_id: int | None = None
    alerts: list[AlertRelay] = field(default_factory=list)  # the latest first


async def _reached_contacts(commune: Unit) -> set[int]:
    """Contacts that get the commune's posts: reachable, not erased, following one of its
    pages."""
    pages = await Page.filter(unit_id=commune.id).values_list("id", flat=True)
    following = await Follow.filter(
        page_id__in=list(pages), status=FollowStatus.ACTIVE
    ).values_list("contact_id", flat=True)
    rows: list[Any] = await Contact.filter(
        id__in=list(following), reachability=Reachability.REACHABLE, erased_at__isnull=True
    ).values_list("id", flat=True)
    return {int(row) for row in rows}


async def coverage(staff: Staff, commune_id: int) -> Coverage:
    """The coverage figures of ``commune_id`` (in ``staff``'s scope)."""
    commune = await Unit.get_or_none(id=commune_id)
    if commune is None:
        raise NotFound("not found")  # like one out of scope: existence does not leak
    await scope.require_unit(staff, commune)
    if commune.level is not UnitLevel.COMMUNE:
        raise ValidationError(_("coverage is counted per commune"), field="commune")
    return await coverage_of(commune)


async def coverage_of(commune: Unit) -> Coverage:
    reached = await _reached_contacts(commune)
    hamlets = {
        unit.id: Figures(unit.name)
        for unit in await Unit.filter(parent_id=commune.id, level=UnitLevel.HAMLET).order_by("name")
    }
    households = await Household.filter(hamlet_id__in=list(hamlets)).order_by("hamlet_id", "id")
    memberships = await HouseholdGroupMember.filter(
        household_id__in=[h.id for h in households],
        consent_confirmed_at__isnull=False,
        removed_at__isnull=True,
        group__active=True,
        group__representative_id__isnull=False,
    ).values_list("household_id", "group__representative_id")
    shared_by = {int(household): int(contact) for household, contact in memberships}
    recent = (
        await Publication.filter(post__page__unit_id=commune.id, post__alert_id__isnull=False)
        .order_by("-id")
        .limit(RECENT_ALERTS)
        .select_related("post__alert")
    )
    told: dict[int, set[int]] = {publication.id: set() for publication in recent}
    rows: list[Any] = await HouseholdRelayConfirmation.filter(
        publication_id__in=list(told), household_id__in=[h.id for h in households]
    ).values_list("publication_id", "household_id")
    for publication_id, household_id in rows:
        told[int(publication_id)].add(int(household_id))
    alert = recent[0] if recent else None
    confirmed = told[alert.id] if alert is not None else set()
    total = Figures(commune.name)
    result = Coverage(
        total,
        list(hamlets.values()),
        alert_publication_id=alert.id if alert else None,
        alerts=[
            AlertRelay(
                publication.id,
                publication.post.alert.headline if publication.post.alert else "",
                publication.started_at,
                len(told[publication.id]),
            )
            for publication in recent
        ],
    )
    for household in households:
        figures = hamlets[household.hamlet_id]  # type: ignore[attr-defined]
        own = household.own_contact_id in reached  # type: ignore[attr-defined]
        shared = not own and shared_by.get(household.id) in reached
        for counted in (figures, total):
            counted.registered += 1
            counted.own += own
            counted.shared += shared
            counted.confirmed += household.id in confirmed
        if not own and not shared:
            result.unreached.append(household)
    return result
