"""Shared household accounts through the REST API: a group is created with its one-time code
(which then links a representative once), listed and shown with who agreed, handed over with a
new code, a household added and taken out, a household's own code; another commune's staff
get 404 and nothing changes; an unknown field is 422."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import (
    AuditEvent,
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    LinkCode,
)
from communepol.services import householdgroups
from communepol.settings import Settings
from tests import pagekit
from tests.web.apikit import ClientFactory, World, world

CODE = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$")


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


async def _second_household(w: World) -> int:
    other = await Household.create(hamlet=w.hamlet_a, head_name="H'Nga Mlô", members_count=3)
    return other.id


async def test_a_group_from_creation_to_handover(client: TestClient[Any, Any]) -> None:
    w = await world()
    second = await _second_household(w)
    auth = w.auth("officer A")
    created = await client.post(
        f"/api/v1/communes/{w.a.id}/groups",
        json={"name": "Nhóm 1 Thôn Ea Sinh", "household_ids": [w.household_a.id, second]},
        headers=auth,
    )
    assert created.status == 201
    body = await created.json()
    assert CODE.match(body["link_code"]) and body["expires_at"].endswith("Z")
    group = body["group"]
    assert (group["name"], group["representative_linked"]) == ("Nhóm 1 Thôn Ea Sinh", False)
    assert sorted((h["head_name"], h["agreed"]) for h in group["households"]) == [
        ("H'Nga Mlô", False),
        ("Y Bhim Niê", False),
    ]
    assert await LinkCode.filter(household_group_id=group["id"]).count() == 1

    # The code links a representative once.
    bot = await pagekit.ChannelAccount.get(name="province bot")
    rep = await pagekit.contact(bot, "rep-api")
    view = await householdgroups.link_representative(pagekit.KEYRING, rep, body["link_code"])
    await householdgroups.confirm_member(rep, view.members[0].id, agreed=True)
    shown = await (await client.get(f"/api/v1/groups/{group['id']}", headers=auth)).json()
    assert shown["representative_linked"] is True
    assert sum(h["agreed"] for h in shown["households"]) == 1
    listed = await (await client.get(f"/api/v1/communes/{w.a.id}/groups", headers=auth)).json()
    assert [g["id"] for g in listed["items"]] == [group["id"]]

    handover = await client.post(f"/api/v1/groups/{group['id']}/code", headers=auth)
    assert handover.status == 200
    fresh = (await handover.json())["link_code"]
    assert fresh != body["link_code"]
    heir = await pagekit.contact(bot, "heir-api")
    after = await householdgroups.link_representative(pagekit.KEYRING, heir, fresh)
    assert after.confirmed == []  # every household agrees again for the new account

    removed = await client.delete(f"/api/v1/groups/{group['id']}/households/{second}", headers=auth)
    assert removed.status == 200
    assert [h["id"] for h in (await removed.json())["households"]] == [w.household_a.id]
    again = await client.post(
        f"/api/v1/groups/{group['id']}/households", json={"household_id": second}, headers=auth
    )
    assert again.status == 200 and len((await again.json())["households"]) == 2
    twice = await client.post(
        f"/api/v1/groups/{group['id']}/households", json={"household_id": second}, headers=auth
    )
    assert twice.status == 409

    own = await client.post(f"/api/v1/households/{second}/own-code", headers=auth)
    assert own.status == 200 and CODE.match((await own.json())["link_code"])
    actions = set(await AuditEvent.filter(source="api").values_list("action", flat=True))
    assert {
        "household_group.created",
        "household_group.code_issued",
        "household_group.member_removed",
        "household_group.member_added",
        "household.code_issued",
    } <= actions


async def test_another_communes_staff_get_404_and_nothing_changes(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    group, _ = await householdgroups.create_group(
        pagekit.KEYRING, w.officer_a, w.a.id, "Nhóm 1", [w.household_a.id]
    )
    codes = await LinkCode.all().count()
    for who in ("officer B", "supervisor D2"):
        auth = w.auth(who)
        for method, path, body in (
            ("GET", f"/api/v1/communes/{w.a.id}/groups", None),
            ("POST", f"/api/v1/communes/{w.a.id}/groups", {"name": "x", "household_ids": [1]}),
            ("GET", f"/api/v1/groups/{group.id}", None),
            ("POST", f"/api/v1/groups/{group.id}/code", None),
            ("POST", f"/api/v1/groups/{group.id}/households", {"household_id": 1}),
            ("DELETE", f"/api/v1/groups/{group.id}/households/{w.household_a.id}", None),
            ("POST", f"/api/v1/households/{w.household_a.id}/own-code", None),
        ):
            response = await client.request(method, path, json=body, headers=auth)
            assert response.status == 404, (who, method, path)
            assert "Nhóm 1" not in await response.text()
    assert await LinkCode.all().count() == codes
    assert await HouseholdGroup.all().count() == 1
    assert await HouseholdGroupMember.filter(removed_at__isnull=True).count() == 1
    # The district supervisor over commune A sees it.
    seen = await client.get(f"/api/v1/groups/{group.id}", headers=w.auth("supervisor D1"))
    assert seen.status == 200
    # A household of commune B cannot join commune A's group; an unknown field is refused.
    foreign = await client.post(
        f"/api/v1/groups/{group.id}/households",
        json={"household_id": w.household_b.id},
        headers=w.auth("officer A"),
    )
    assert foreign.status == 422
    extra = await client.post(
        f"/api/v1/communes/{w.a.id}/groups",
        json={"name": "Nhóm 2", "household_ids": [w.household_a.id], "representative_id": 1},
        headers=w.auth("officer A"),
    )
    assert extra.status == 422 and (await extra.json())["field"] == "representative_id"
    assert await HouseholdGroup.all().count() == 1


async def test_the_household_list_is_checked_item_by_item(client: TestClient[Any, Any]) -> None:
    w = await world()
    path = f"/api/v1/communes/{w.a.id}/groups"
    for ids, field in (([], "household_ids"), ([[1]], "household_ids"), (["1"], "household_ids")):
        response = await client.post(
            path, json={"name": "Nhóm", "household_ids": ids}, headers=w.auth("officer A")
        )
        assert response.status == 422, ids
        assert (await response.json())["field"] == field
    assert await HouseholdGroup.all().count() == 0
