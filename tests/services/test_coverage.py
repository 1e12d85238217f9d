"""Coverage of a seeded commune: each household is placed in a known situation — its own
account following the page, a confirmed member of a shared account, unconfirmed, removed, behind
a representative who blocked the bot, erased — and the figures the service gives per hamlet and
for the commune must equal a count made here, independently, from those situations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.clock import utcnow
from communepol.db.models import (
    ContactKind,
    Follow,
    FollowStatus,
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    HouseholdRelayConfirmation,
    Publication,
    Reachability,
    Role,
    UnitLevel,
)
from communepol.errors import NotFound
from communepol.i18n import I18n
from communepol.services import coverage
from communepol.services.alerts import AlertInput, Alerts, create_alert
from communepol.services.units import add_hamlet
from communepol.settings import Settings
from tests import pagekit


@dataclass(frozen=True)
class Case:
    hamlet: int  # 0 or 1
    own: str | None  # None, "following", "not following", "erased"
    group: str | None  # None, "good", "unconfirmed", "removed", "blocked representative"
    confirmed: bool = False  # the shared account said it told this household of the alert


CASES = [
    Case(0, "following", None),
    Case(0, "not following", "good", confirmed=True),
    Case(0, None, "unconfirmed"),
    Case(0, None, "removed"),
    Case(0, None, "blocked representative"),
    Case(0, "erased", None),
    Case(0, "following", "good"),  # both: counted once, as its own account
    Case(1, None, "good", confirmed=True),
    Case(1, None, None),
]


def expected(cases: list[Case]) -> tuple[int, int, int, int, int]:
    """(registered, own, shared, unreached, confirmed), counted from the situations alone."""
    own = sum(1 for c in cases if c.own == "following")
    shared = sum(1 for c in cases if c.own != "following" and c.group == "good")
    confirmed = sum(1 for c in cases if c.confirmed)
    return len(cases), own, shared, len(cases) - own - shared, confirmed


async def test_coverage_matches_an_independent_count(
    db: TortoiseContext, settings: Settings
) -> None:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    commune = await pagekit.unit("Xã Cư M'gar", parent=province)
    other = await pagekit.unit("Xã Ea Kar", parent=province)
    hamlets = [
        await add_hamlet(commune, "Ea Sinh", kind="Buôn"),
        await add_hamlet(commune, "Ea Kmar", kind="Buôn"),
    ]
    bot = await pagekit.account()
    page = await pagekit.page(commune, "ca-xa-cu-mgar", bot)
    officer = await pagekit.staff(commune)

    async def person(user: str, *, follows: bool, kind: ContactKind = ContactKind.PERSON):
        contact = await pagekit.contact(bot, user)
        if kind is not ContactKind.PERSON:
            contact.kind = kind
            await contact.save(update_fields=["kind"])
        if follows:
            await Follow.create(page=page, contact=contact, status=FollowStatus.ACTIVE)
        return contact

    shared = await person("shared-1", follows=True, kind=ContactKind.SHARED_HOUSEHOLD)
    blocked = await person("shared-2", follows=True, kind=ContactKind.SHARED_HOUSEHOLD)
    blocked.reachability = Reachability.UNREACHABLE
    await blocked.save(update_fields=["reachability"])
    good = await HouseholdGroup.create(unit=commune, name="Nhóm 1", representative=shared)
    cut_off = await HouseholdGroup.create(unit=commune, name="Nhóm 2", representative=blocked)

    alert = await create_alert(
        officer,
        AlertInput(
            category="missing_person",
            headline="Tìm người: ông Y Blang",
            description="Đi khỏi nhà từ sáng.",
            pages=(page.id,),
        ),
    )
    await Alerts(settings, I18n.load()).send(officer, alert.id)
    publication = await Publication.get(post__alert_id=alert.id)

    now = utcnow()
    households = []
    for number, case in enumerate(CASES):
        own = None
        if case.own is not None:
            own = await person(f"own-{number}", follows=case.own != "not following")
            if case.own == "erased":
                own.erased_at = now
                await own.save(update_fields=["erased_at"])
        household = await Household.create(
            hamlet=hamlets[case.hamlet], head_name=f"Hộ {number}", own_contact=own
        )
        households.append(household)
        if case.group is not None:
            await HouseholdGroupMember.create(
                group=cut_off if case.group == "blocked representative" else good,
                household=household,
                consent_confirmed_at=None if case.group == "unconfirmed" else now,
                removed_at=now - timedelta(days=1) if case.group == "removed" else None,
            )
        if case.confirmed:
            await HouseholdRelayConfirmation.create(
                publication_id=publication.id, household=household, contact=shared
            )

    seen = await coverage.coverage(officer, commune.id)

    def figures(f: coverage.Figures) -> tuple[int, int, int, int, int]:
        return f.registered, f.own, f.shared, f.unreached, f.confirmed

    assert figures(seen.commune) == expected(CASES)
    by_name = {f.name: figures(f) for f in seen.hamlets}
    assert by_name == {
        hamlets[0].name: expected([c for c in CASES if c.hamlet == 0]),
        hamlets[1].name: expected([c for c in CASES if c.hamlet == 1]),
    }
    unreached_expected = [
        households[i].id for i, c in enumerate(CASES) if c.own != "following" and c.group != "good"
    ]
    assert [h.id for h in seen.unreached] == unreached_expected
    assert seen.alert_publication_id == publication.id

    stranger = await pagekit.staff(other, name="Officer of Ea Kar")
    with pytest.raises(NotFound):
        await coverage.coverage(stranger, commune.id)
    supervisor = await pagekit.staff(province, Role.SUPERVISOR, name="Supervisor")
    assert figures((await coverage.coverage(supervisor, commune.id)).commune) == expected(CASES)
