"""Shared household accounts: a group is created with a one-time code, its representative
links and confirms each household, hands it over, and households leave; coverage follows each
step. Staff of another commune find nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.clock import utcnow
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ConsentPurpose,
    ConsentRecord,
    Contact,
    ContactKind,
    Delivery,
    Follow,
    FollowStatus,
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    Page,
    Role,
    Staff,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import I18n
from communepol.services import coverage, householdgroups, households, posts
from communepol.services.posts import PostInput, Publisher, Translation
from communepol.services.units import add_hamlet
from communepol.settings import Settings
from tests import pagekit

K = pagekit.KEYRING


@dataclass
class Village:
    bot: ChannelAccount
    ea_kar: Unit
    ea_pal: Unit
    page: Page
    officer: Staff
    stranger: Staff  # an officer of Ea Păl
    supervisor: Staff
    homes: list[Household]  # five households of Buôn Ea Sinh (Ea Kar)
    elsewhere: Household  # a household of Ea Păl


async def village() -> Village:
    district = await pagekit.unit("Huyện Ea Kar", UnitLevel.DISTRICT)
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=district)
    ea_pal = await pagekit.unit("Xã Ea Păl", parent=district)
    bot = await pagekit.account(ChannelKind.TELEGRAM, "bot")
    page = await pagekit.page(ea_kar, "ea-kar", bot)
    officer = await pagekit.staff(ea_kar)
    buon = await add_hamlet(ea_kar, "Ea Sinh", kind="Buôn")
    homes = [
        await households.add_household(
            officer, buon.id, head_name=name, members_count=4, address=f"Nhà {n}"
        )
        for n, name in enumerate(
            ("Y Kông Êban", "H'Luyến Kbuôr", "Y Bhim Niê", "H'Xíu Ayun", "Y Thuôn Mlô"), 1
        )
    ]
    thon = await add_hamlet(ea_pal, "Thôn 1")
    return Village(
        bot,
        ea_kar,
        ea_pal,
        page,
        officer,
        await pagekit.staff(ea_pal, name="Người xã khác"),
        await pagekit.staff(district, Role.SUPERVISOR, name="Lê Văn Cường"),
        homes,
        await Household.create(hamlet=thon, head_name="Hộ xã khác"),
    )


async def _follow(person: Contact, page: Page) -> None:
    await Follow.create(page=page, contact=person, status=FollowStatus.ACTIVE)


async def _shared(v: Village) -> int:
    return (await coverage.coverage(v.officer, v.ea_kar.id)).commune.shared


async def test_link_confirm_hand_over_and_remove(db: TortoiseContext) -> None:
    v = await village()
    group, issued = await householdgroups.create_group(
        K, v.officer, v.ea_kar.id, "Nhóm 1 Buôn Ea Sinh", [h.id for h in v.homes[:4]]
    )
    assert issued.expires_at - utcnow() > timedelta(days=6)
    rep = await pagekit.contact(v.bot, "rep-1")
    view = await householdgroups.link_representative(K, rep, issued.code)
    await rep.refresh_from_db()
    assert rep.kind is ContactKind.SHARED_HOUSEHOLD
    assert view.group.representative_id == rep.id  # type: ignore[attr-defined]
    assert len(view.members) == 4 and view.confirmed == []
    await _follow(rep, v.page)
    assert await _shared(v) == 0  # linked, but no household has agreed yet

    first, second, third, fourth = view.members
    for member in (first, second, third):
        view = await householdgroups.confirm_member(rep, member.id, agreed=True)
    view = await householdgroups.confirm_member(rep, fourth.id, agreed=False)
    assert {m.household.id for m in view.confirmed} == {
        first.household.id,
        second.household.id,
        third.household.id,
    }
    assert fourth.household.id not in {m.household.id for m in view.members}  # taken out
    consents = await ConsentRecord.filter(contact_id=rep.id, purpose=ConsentPurpose.SHARED_ACCOUNT)
    assert sorted((c.household_id, c.granted) for c in consents) == sorted(
        [
            (first.household.id, True),
            (second.household.id, True),
            (third.household.id, True),
            (fourth.household.id, False),
        ]
    )
    assert await _shared(v) == 3

    # The code worked once.
    other = await pagekit.contact(v.bot, "someone-else")
    with pytest.raises(ValidationError):
        await householdgroups.link_representative(K, other, issued.code)

    # Hand over: a new code; whoever sends it becomes the representative, and every household
    # must agree again for the new account.
    handover = await householdgroups.issue_handover_code(K, v.officer, group.id)
    heir = await pagekit.contact(v.bot, "rep-2")
    view = await householdgroups.link_representative(K, heir, handover.code)
    await rep.refresh_from_db()
    assert rep.kind is ContactKind.PERSON
    assert view.group.representative_id == heir.id  # type: ignore[attr-defined]
    assert len(view.members) == 3 and view.confirmed == []
    withdrawn = await ConsentRecord.filter(contact_id=rep.id, granted=False).count()
    assert withdrawn == 1 + 3  # the one who did not agree, and the three handed over
    await _follow(heir, v.page)
    assert await _shared(v) == 0
    view = await householdgroups.confirm_member(heir, view.members[0].id, agreed=True)
    assert await _shared(v) == 1

    # The officer takes a household out, and adds the one that had left.
    await householdgroups.remove_member(v.officer, group.id, view.members[0].household.id)
    assert await _shared(v) == 0
    added = await householdgroups.add_member(v.officer, group.id, fourth.household.id)
    assert not added.confirmed
    with pytest.raises(Conflict):
        await householdgroups.add_member(v.officer, group.id, fourth.household.id)
    detail = await householdgroups.group_detail(v.officer, group.id)
    assert len(detail.members) == 3  # second, third and fourth; none confirmed for the heir
    # The old representative can no longer act on the group.
    with pytest.raises(NotFound):
        await householdgroups.confirm_member(rep, detail.members[0].id, agreed=True)


async def test_a_link_code_works_once_and_expires(db: TortoiseContext) -> None:
    v = await village()
    week_ago = utcnow() - timedelta(days=7, minutes=1)
    _, stale = await householdgroups.create_group(
        K, v.officer, v.ea_kar.id, "Nhóm cũ", [v.homes[0].id], now=week_ago
    )
    person = await pagekit.contact(v.bot, "late")
    with pytest.raises(ValidationError, match="wrong, already used or expired"):
        await householdgroups.link_representative(K, person, stale.code)
    assert (await HouseholdGroup.get(name="Nhóm cũ")).representative_id is None  # type: ignore[attr-defined]

    group, fresh = await householdgroups.create_group(
        K, v.officer, v.ea_kar.id, "Nhóm mới", [v.homes[1].id]
    )
    await householdgroups.link_representative(K, person, fresh.code)
    with pytest.raises(ValidationError, match="wrong, already used or expired"):
        await householdgroups.link_representative(K, person, fresh.code)
    # A new code makes the unused older one stop working.
    first = await householdgroups.issue_handover_code(K, v.officer, group.id)
    await householdgroups.issue_handover_code(K, v.officer, group.id)
    with pytest.raises(ValidationError):
        await householdgroups.link_representative(K, person, first.code)
    # A staff code is not a group's.
    with pytest.raises(ValidationError):
        await householdgroups.link_representative(K, person, "ABCD-EFGH")


async def test_a_household_with_its_own_account_leaves_the_group(db: TortoiseContext) -> None:
    v = await village()
    group, issued = await householdgroups.create_group(
        K, v.officer, v.ea_kar.id, "Nhóm 1", [h.id for h in v.homes[:2]]
    )
    rep = await pagekit.contact(v.bot, "rep")
    view = await householdgroups.link_representative(K, rep, issued.code)
    for member in view.members:
        await householdgroups.confirm_member(rep, member.id, agreed=True)
    await _follow(rep, v.page)

    own = await householdgroups.issue_own_account_code(K, v.officer, v.homes[0].id)
    phone = await pagekit.contact(v.bot, "own-phone")
    household = await householdgroups.link_own_account(K, phone, own.code)
    assert household.own_contact_id == phone.id  # type: ignore[attr-defined]
    left = await HouseholdGroupMember.get(group_id=group.id, household_id=v.homes[0].id)
    assert left.removed_at is not None
    await _follow(phone, v.page)
    seen = await coverage.coverage(v.officer, v.ea_kar.id)
    assert (seen.commune.own, seen.commune.shared) == (1, 1)
    with pytest.raises(ValidationError):  # used once
        await householdgroups.link_own_account(K, phone, own.code)


async def test_staff_of_another_commune_find_nothing(db: TortoiseContext) -> None:
    v = await village()
    group, _ = await householdgroups.create_group(
        K, v.officer, v.ea_kar.id, "Nhóm 1", [v.homes[0].id]
    )
    for attempt in (
        householdgroups.group_detail(v.stranger, group.id),
        householdgroups.issue_handover_code(K, v.stranger, group.id),
        householdgroups.add_member(v.stranger, group.id, v.homes[1].id),
        householdgroups.remove_member(v.stranger, group.id, v.homes[0].id),
        householdgroups.issue_own_account_code(K, v.stranger, v.homes[0].id),
        householdgroups.create_group(K, v.stranger, v.ea_kar.id, "x", [v.homes[1].id]),
        householdgroups.groups_of(v.stranger, v.ea_kar.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    # A household of another commune cannot be put in the group, nor one already in a group.
    with pytest.raises(ValidationError):
        await householdgroups.add_member(v.officer, group.id, v.elsewhere.id)
    with pytest.raises(Conflict):
        await householdgroups.create_group(K, v.officer, v.ea_kar.id, "Nhóm 2", [v.homes[0].id])
    # The district supervisor sees it.
    [seen] = await householdgroups.groups_of(v.supervisor, v.ea_kar.id)
    assert seen.group.id == group.id and len(seen.members) == 1


async def test_adding_a_household_checks_it_like_a_csv_row(db: TortoiseContext) -> None:
    v = await village()
    buon = await Unit.get(name="Buôn Ea Sinh")
    with pytest.raises(Conflict):
        await households.add_household(
            v.officer, buon.id, head_name="y kông êban", members_count=3, address="nhà 1"
        )
    refused = {
        "head_name": {"head_name": "  ", "members_count": 2},
        "members_count": {"head_name": "Y Ami", "members_count": 0},
        "phone": {"head_name": "Y Ami", "members_count": 2, "phone": "12"},
    }
    for field, values in refused.items():
        with pytest.raises(ValidationError) as err:
            await households.add_household(v.officer, buon.id, **values)  # type: ignore[arg-type]
        assert err.value.field == field
    with pytest.raises(NotFound):
        await households.add_household(v.stranger, buon.id, head_name="Y Ami", members_count=2)
    added = await households.add_household(
        v.officer, buon.id, head_name="Y Ami", members_count=2, phone="0912 345 678"
    )
    assert added.phone == "+84912345678"
    listed = await households.list_households(v.supervisor, v.ea_kar.id)
    assert [h.head_name for h in listed].count("Y Ami") == 1 and len(listed) == 6
    with pytest.raises(NotFound):
        await households.list_households(v.stranger, v.ea_kar.id)


async def test_only_a_post_that_must_reach_every_household_asks_for_the_relay(
    db: TortoiseContext, settings: Settings
) -> None:
    v = await village()
    _, issued = await householdgroups.create_group(
        K, v.officer, v.ea_kar.id, "Nhóm 1", [h.id for h in v.homes]
    )
    rep = await pagekit.contact(v.bot, "rep")
    view = await householdgroups.link_representative(K, rep, issued.code)
    for member in view.members:
        await householdgroups.confirm_member(rep, member.id, agreed=True)
    await _follow(rep, v.page)
    [person] = await pagekit.followers(v.page, v.bot, 1)

    async def published(must_reach: bool) -> dict[int, str]:
        data = PostInput(
            "announcement",
            [Translation("vi", "Họp dân", "Tối thứ Bảy họp dân ở nhà văn hoá.")],
            must_reach_every_household=must_reach,
        )
        post = await posts.create_post(v.officer, v.page.id, data, settings)
        await posts.submit_post(v.officer, post.id, settings)
        [publication] = await Publisher(settings, I18n.load()).publish_due()
        rows = await Delivery.filter(publication_id=publication)
        return {row.contact_id: row.payload["from_publication"] for row in rows}  # type: ignore[attr-defined]

    assert await published(True) == {rep.id: "vi+relay", person.id: "vi"}
    assert await published(False) == {rep.id: "vi", person.id: "vi"}
