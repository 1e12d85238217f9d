"""The household groups screen through the real application: a group created from the page
shows its one-time code, which links a representative once; a handover code moves the group to
a new account; adding and removing a household change the members; every route × role stays
inside the subtree (another commune's groups are 404 with none of their data); every write
refuses a missing CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol import keys
from communepol.crypto import Keyring
from communepol.db.models import (
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    LinkCode,
    LinkPurpose,
    Unit,
    UnitLevel,
)
from communepol.errors import ValidationError
from communepol.services import householdgroups
from tests import pagekit
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, scene, signed_in

_CODE = re.compile(r'<code class="link-code">([A-Z0-9-]+)</code>')


def keyring_of(client: TestClient[Any, Any]) -> Keyring:
    app = client.app
    assert app is not None
    return app[keys.KEYRING]


@dataclass
class Village:
    scene: Scene
    homes_a: list[Household]
    home_b: Household


@pytest.fixture
async def village(client: TestClient[Any, Any]) -> Village:
    people = await scene()
    hamlet_a = await Unit.get(parent_id=people.commune_a.id, level=UnitLevel.HAMLET)
    hamlet_b = await Unit.get(parent_id=people.commune_b.id, level=UnitLevel.HAMLET)
    homes_a = [
        await Household.create(hamlet=hamlet_a, head_name=name, members_count=4, address="A")
        for name in ("Y Kông Êban", "H'Luyến Kbuôr", "Y Bhim Niê")
    ]
    home_b = await Household.create(hamlet=hamlet_b, head_name="H'Bia Niê", members_count=3)
    return Village(people, homes_a, home_b)


def code_of(html: str) -> str:
    found = _CODE.search(html)
    assert found, "the page shows no link code"
    return found.group(1)


async def members_of(group_id: int) -> set[int]:
    rows = await HouseholdGroupMember.filter(group_id=group_id, removed_at__isnull=True)
    return {row.household_id for row in rows}  # type: ignore[attr-defined]


async def test_create_link_once_hand_over_add_and_remove(
    client: TestClient[Any, Any], village: Village, clock: Clock
) -> None:
    people = village.scene
    first, second, third = village.homes_a
    keyring = keyring_of(client)
    browser = await signed_in(client, people.officer_a, clock, {})
    page = await browser.get(f"/admin/groups?commune={people.commune_a.id}&lang=en")
    assert page.status == 200
    html = unescape(await page.text())
    assert "Y Kông Êban" in html and "H'Bia Niê" not in html

    created = await browser.post(
        f"/admin/groups?commune={people.commune_a.id}&lang=en",
        {
            "csrf": csrf_of(html),
            "name": "Nhóm đầu buôn",
            "households": [str(first.id), str(second.id)],
        },
    )
    assert created.status == 200
    html = unescape(await created.text())
    code = code_of(html)
    group = await HouseholdGroup.get(name="Nhóm đầu buôn")
    assert group.unit_id == people.commune_a.id  # type: ignore[attr-defined]
    assert await members_of(group.id) == {first.id, second.id}
    assert "No representative linked yet" in html
    # Shown once: the next visit has no code, and none is stored in the clear.
    again = await (await browser.get(f"/admin/groups?commune={people.commune_a.id}")).text()
    assert code not in again and _CODE.search(again) is None
    assert not await LinkCode.filter(code_hash=code).exists()

    bot = await pagekit.account()
    representative = await pagekit.contact(bot, "rep-1")
    view = await householdgroups.link_representative(keyring, representative, code)
    assert view.group.id == group.id and view.linked
    with pytest.raises(ValidationError):
        await householdgroups.link_representative(keyring, representative, code)
    linked = unescape(
        await (await browser.get(f"/admin/groups?commune={people.commune_a.id}&lang=en")).text()
    )
    assert "Representative linked" in linked

    # Handover: a new code; whoever sends it becomes the representative.
    handover = await browser.post(
        f"/admin/groups/{group.id}/code?lang=en", {"csrf": csrf_of(linked)}
    )
    assert handover.status == 200
    new_code = code_of(await handover.text())
    assert new_code != code
    successor = await pagekit.contact(bot, "rep-2")
    await householdgroups.link_representative(keyring, successor, new_code)
    await group.refresh_from_db()
    assert group.representative_id == successor.id  # type: ignore[attr-defined]

    added = await browser.post(
        f"/admin/groups/{group.id}/add", {"csrf": csrf_of(linked), "household": str(third.id)}
    )
    assert added.status == 303
    assert await members_of(group.id) == {first.id, second.id, third.id}
    removed = await browser.post(
        f"/admin/groups/{group.id}/remove", {"csrf": csrf_of(linked), "household": str(first.id)}
    )
    assert removed.status == 303
    assert await members_of(group.id) == {second.id, third.id}
    shown = unescape(await (await browser.get(removed.headers["Location"] + "&lang=en")).text())
    assert "The household has left the group." in shown
    members_table = shown.split(f'id="group-{group.id}"')[1].split("</table>")[0]
    assert "Y Bhim Niê" in members_table and "Y Kông Êban" not in members_table

    # A household already in a group cannot go into a second one: refused, nothing written.
    refused = await browser.post(
        f"/admin/groups?commune={people.commune_a.id}",
        {"csrf": csrf_of(linked), "name": "Nhóm hai", "households": [str(second.id)]},
    )
    assert refused.status == 409
    assert not await HouseholdGroup.exists(name="Nhóm hai")

    # Its own account: a code of purpose "household", which links once.
    own = await browser.post(
        f"/admin/groups/household/{second.id}/code?commune={people.commune_a.id}",
        {"csrf": csrf_of(linked)},
    )
    assert own.status == 200
    own_code = code_of(await own.text())
    resident = await pagekit.contact(bot, "own-1")
    household = await householdgroups.link_own_account(keyring, resident, own_code)
    assert household.own_contact_id == resident.id  # type: ignore[attr-defined]
    assert await members_of(group.id) == {third.id}


async def test_an_officer_of_another_commune_finds_nothing_and_changes_nothing(
    client: TestClient[Any, Any], village: Village, clock: Clock
) -> None:
    people = village.scene
    first, second, third = village.homes_a
    group, _ = await householdgroups.create_group(
        keyring_of(client), people.officer_a, people.commune_a.id, "Nhóm Ea Sinh", [first.id]
    )
    codes = await LinkCode.filter(purpose=LinkPurpose.HOUSEHOLD_GROUP).count()
    stranger = await signed_in(client, people.officer_b, clock, {})
    token = csrf_of(await (await stranger.get("/admin/password")).text())
    for response in (
        await stranger.get(f"/admin/groups?commune={people.commune_a.id}"),
        await stranger.post(f"/admin/groups/{group.id}/code", {"csrf": token}),
        await stranger.post(
            f"/admin/groups/{group.id}/add", {"csrf": token, "household": str(second.id)}
        ),
        await stranger.post(
            f"/admin/groups/{group.id}/remove", {"csrf": token, "household": str(first.id)}
        ),
        await stranger.post(
            f"/admin/groups?commune={people.commune_a.id}",
            {"csrf": token, "name": "Lén", "households": [str(third.id)]},
        ),
        await stranger.post(f"/admin/groups/household/{third.id}/code", {"csrf": token}),
        # B's own group form naming a household of A.
        await stranger.post(
            f"/admin/groups?commune={people.commune_b.id}",
            {"csrf": token, "name": "Lén 2", "households": [str(third.id)]},
        ),
    ):
        html = unescape(await response.text())
        assert response.status in (400, 404), response.status
        assert "Nhóm Ea Sinh" not in html and "Y Kông Êban" not in html
        assert "H'Luyến Kbuôr" not in html
    assert await members_of(group.id) == {first.id}
    assert await LinkCode.filter(purpose=LinkPurpose.HOUSEHOLD_GROUP).count() == codes
    assert not await LinkCode.filter(purpose=LinkPurpose.HOUSEHOLD).exists()
    assert await HouseholdGroup.filter(name__startswith="Lén").count() == 0
    own = await (await stranger.get("/admin/groups")).text()
    assert "Nhóm Ea Sinh" not in own


# --- the scope matrix --------------------------------------------------------------------------

A, B = "A", "B"
ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
SEES = {
    "officer_a": {A},
    "officer_b": {B},
    "supervisor_1": {A},
    "supervisor_2": {B},
    "admin": {A, B},
}


async def test_every_groups_route_keeps_each_role_in_its_subtree(
    client: TestClient[Any, Any], village: Village, clock: Clock
) -> None:
    people = village.scene
    keyring = keyring_of(client)
    hamlet_b = await Unit.get(parent_id=people.commune_b.id, level=UnitLevel.HAMLET)
    spare_b = await Household.create(hamlet=hamlet_b, head_name="Y Ngông Mlô", members_count=2)
    group_a, _ = await householdgroups.create_group(
        keyring, None, people.commune_a.id, "Nhóm A", [village.homes_a[0].id]
    )
    group_b, _ = await householdgroups.create_group(
        keyring, None, people.commune_b.id, "Nhóm B", [village.home_b.id]
    )
    commune = {A: people.commune_a.id, B: people.commune_b.id}
    group = {A: group_a.id, B: group_b.id}
    spare = {A: village.homes_a[1].id, B: spare_b.id}
    secret = {A: ("Nhóm A", "Y Kông Êban"), B: ("Nhóm B", "H'Bia Niê")}
    secrets: dict[int, str] = {}
    problems: list[str] = []

    def check(cell: str, got: int, wanted: int, html: str, role: str) -> None:
        if got != wanted:
            problems.append(f"{cell}: {got}, expected {wanted}")
        for other in (A, B):
            if other not in SEES[role] and any(word in unescape(html) for word in secret[other]):
                problems.append(f"{cell} shows commune {other}")

    for role in ROLES:
        browser = await signed_in(client, getattr(people, role), clock, secrets)
        listing = await browser.get("/admin/groups")
        check(f"{role} GET /admin/groups", listing.status, 200, await listing.text(), role)
        for place in (A, B):
            ok = place in SEES[role]
            token = csrf_of(await (await browser.get("/admin/password")).text())
            calls: list[tuple[str, str, dict[str, Any] | None, int]] = [
                ("GET", f"/admin/groups?commune={commune[place]}", None, 200),
                ("POST", f"/admin/groups?commune={commune[place]}", {"name": "x"}, 400),
                ("POST", f"/admin/groups/{group[place]}/code", {}, 200),
                ("POST", f"/admin/groups/{group[place]}/add", {"household": spare[place]}, 303),
                ("POST", f"/admin/groups/{group[place]}/remove", {"household": spare[place]}, 303),
                (
                    "POST",
                    f"/admin/groups/household/{spare[place]}/code?commune={commune[place]}",
                    {},
                    200,
                ),
            ]
            for method, path, data, allowed in calls:
                if method == "GET":
                    response = await browser.get(path)
                else:
                    response = await browser.post(path, {"csrf": token, **(data or {})})
                check(
                    f"{role} {method} {path}",
                    response.status,
                    allowed if ok else 404,
                    await response.text(),
                    role,
                )
    # The spare households went in and out again: every group has its first member only.
    assert await members_of(group_a.id) == {village.homes_a[0].id}
    assert await members_of(group_b.id) == {village.home_b.id}

    anonymous = Browser(client)
    response = await anonymous.get(f"/admin/groups?commune={commune[A]}")
    assert response.status == 303 and response.headers["Location"] == "/admin/login"
    for path in (
        f"/admin/groups?commune={commune[A]}",
        f"/admin/groups/{group_a.id}/code",
        f"/admin/groups/{group_a.id}/add",
        f"/admin/groups/{group_a.id}/remove",
        f"/admin/groups/household/{spare[A]}/code",
    ):
        refused = await anonymous.post(path, {"name": "x", "household": spare[A]})
        if refused.status != 403:
            problems.append(f"anonymous POST {path}: {refused.status}")
    assert problems == []


async def test_every_groups_write_refuses_a_missing_csrf_token(
    client: TestClient[Any, Any], village: Village, clock: Clock
) -> None:
    people = village.scene
    first, second, _third = village.homes_a
    group, _ = await householdgroups.create_group(
        keyring_of(client), None, people.commune_a.id, "Nhóm A", [first.id]
    )
    codes = await LinkCode.all().count()
    browser = await signed_in(client, people.officer_a, clock, {})
    token = csrf_of(await (await browser.get("/admin/password")).text())
    writes: tuple[tuple[str, dict[str, Any]], ...] = (
        (f"/admin/groups?commune={people.commune_a.id}", {"name": "Mới", "households": second.id}),
        (f"/admin/groups/{group.id}/code", {}),
        (f"/admin/groups/{group.id}/add", {"household": second.id}),
        (f"/admin/groups/{group.id}/remove", {"household": first.id}),
        (f"/admin/groups/household/{second.id}/code", {}),
    )
    for path, data in writes:
        assert (await browser.post(path, data)).status == 403, path
        assert (await browser.post(path, {**data, "csrf": "forged"})).status == 403, path
        forged_origin = await browser.post(path, {**data, "csrf": token}, origin="http://evil")
        assert forged_origin.status == 403, path
    assert await members_of(group.id) == {first.id}
    assert await LinkCode.all().count() == codes
    assert await HouseholdGroup.all().count() == 1
