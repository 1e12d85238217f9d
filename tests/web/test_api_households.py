"""Households through the REST API as an officer uses them: the commune's list by hamlet and
paged, one hamlet's, registering one household (checked like a CSV row; an extra field is 422
and nothing is written), the CSV import with its refused lines, and the coverage figures with
the households not reached."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import AuditEvent, Household
from communepol.settings import Settings
from tests import pagekit
from tests.web.apikit import ClientFactory, world


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


async def test_the_list_by_hamlet_and_paged(client: TestClient[Any, Any]) -> None:
    w = await world()
    second = await pagekit.unit("Thôn Ea Bông", pagekit.UnitLevel.HAMLET, parent=w.a)
    await Household.create(hamlet=second, head_name="Nay Bông", members_count=2)
    response = await client.get(
        f"/api/v1/communes/{w.a.id}/households", headers=w.auth("officer A")
    )
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert [(h["hamlet"]["name"], h["head_name"]) for h in body["items"]] == [
        ("Thôn Ea Bông", "Nay Bông"),
        ("Thôn Ea Sinh", "Y Bhim Niê"),
    ]
    assert body["next_offset"] is None
    assert "phone" not in body["items"][0]
    one = await (
        await client.get(
            f"/api/v1/communes/{w.a.id}/households?hamlet={second.id}&limit=1",
            headers=w.auth("officer A"),
        )
    ).json()
    assert [h["head_name"] for h in one["items"]] == ["Nay Bông"]
    paged = await (
        await client.get(
            f"/api/v1/communes/{w.a.id}/households?limit=1", headers=w.auth("supervisor D1")
        )
    ).json()
    assert len(paged["items"]) == 1 and paged["next_offset"] == 1


async def test_registering_a_household(client: TestClient[Any, Any]) -> None:
    w = await world()
    path = f"/api/v1/hamlets/{w.hamlet_a.id}/households"
    body = {
        "head_name": "Ksor Y Bông",
        "members_count": 6,
        "address": "Thôn Ea Sinh",
        "phone": "0912 345 678",
    }
    response = await client.post(path, json=body, headers=w.auth("officer A"))
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["head_name"] == "Ksor Y Bông"
    assert created["hamlet"] == {"id": w.hamlet_a.id, "name": "Thôn Ea Sinh"}
    row = await Household.get(id=created["id"])
    assert (row.phone, row.created_by_id) == ("+84912345678", w.officer_a.id)  # type: ignore[attr-defined]
    assert await AuditEvent.filter(action="household.added", source="api").exists()
    again = await client.post(path, json=body, headers=w.auth("officer A"))
    assert again.status == 409
    # The service's own checks answer 422 with the field.
    bad_phone = await client.post(
        path, json=body | {"phone": "123", "head_name": "Ai đó"}, headers=w.auth("officer A")
    )
    assert bad_phone.status == 422
    assert (await bad_phone.json())["field"] == "phone"


@pytest.mark.parametrize("extra", ["status", "unit_id", "role", "created_at", "hamlet_id"])
async def test_an_extra_field_when_registering_is_422_and_nothing_is_written(
    client: TestClient[Any, Any], extra: str
) -> None:
    w = await world()
    before = await Household.all().count(), await AuditEvent.all().count()
    response = await client.post(
        f"/api/v1/hamlets/{w.hamlet_a.id}/households",
        json={"head_name": "Ksor Y Bông", "members_count": 3, extra: 1},
        headers=w.auth("officer A"),
    )
    assert response.status == 422
    assert (await response.json())["field"] == extra
    assert (await Household.all().count(), await AuditEvent.all().count()) == before


@pytest.mark.parametrize(
    "body",
    [
        {"head_name": "Ksor", "members_count": "3"},
        {"head_name": "Ksor", "members_count": 3.5},
        {"head_name": "Ksor", "members_count": 0},
        {"head_name": "Ksor", "members_count": 51},
        {"head_name": "Ksor", "members_count": 10**30},
        {"head_name": "Ksor", "members_count": True},
        {"head_name": "", "members_count": 3},
        {"head_name": 7, "members_count": 3},
        {"members_count": 3},
        {"head_name": "Ksor", "members_count": 3, "phone": 912345678},
    ],
)
async def test_wrong_types_are_422(client: TestClient[Any, Any], body: dict[str, Any]) -> None:
    w = await world()
    response = await client.post(
        f"/api/v1/hamlets/{w.hamlet_a.id}/households", json=body, headers=w.auth("officer A")
    )
    assert response.status == 422, await response.text()
    assert await Household.all().count() == 2


async def test_the_csv_import_keeps_good_rows_and_names_bad_lines(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    csv = (
        "Thôn,Chủ hộ,Số người,Địa chỉ\n"
        "Ea Sinh,Ksor Y Bông,3,Thôn Ea Sinh\n"
        "Ea Sinh,,3,\n"
        "Ea Mới,Nay H'Lan,2,\n"
    ).encode()
    headers = w.auth("officer A") | {"Content-Type": "text/csv"}
    path = f"/api/v1/communes/{w.a.id}/households/import"
    response = await client.post(path, data=csv, headers=headers)
    assert response.status == 200, await response.text()
    result = await response.json()
    assert result["added"] == 1 and result["hamlets_added"] == []
    assert [row["line"] for row in result["refused"]] == [3, 4]
    created = await client.post(f"{path}?create_hamlets=true", data=csv, headers=headers)
    assert (await created.json())["hamlets_added"] == ["Thôn Ea Mới"]
    as_json = await client.post(path, json={"csv": "x"}, headers=w.auth("officer A"))
    assert as_json.status == 415
    empty = await client.post(path, data=b"", headers=headers)
    assert empty.status == 422


async def test_coverage_lists_the_households_not_reached(client: TestClient[Any, Any]) -> None:
    w = await world()
    response = await client.get(f"/api/v1/units/{w.a.id}/coverage", headers=w.auth("officer A"))
    assert response.status == 200
    body = await response.json()
    assert body["commune"] == {"id": w.a.id, "name": "Xã Ea Kar", "level": "commune"}
    assert body["totals"] == {
        "name": "Xã Ea Kar",
        "registered": 1,
        "own": 0,
        "shared": 0,
        "confirmed": 0,
        "unreached": 1,
    }
    assert [h["name"] for h in body["hamlets"]] == ["Thôn Ea Sinh"]
    assert body["unreached"] == [
        {
            "id": w.household_a.id,
            "head_name": "Y Bhim Niê",
            "members_count": 5,
            "address": "Thôn Ea Sinh",
            "hamlet": {"id": w.hamlet_a.id, "name": "Thôn Ea Sinh"},
        }
    ]
    hamlet = await client.get(
        f"/api/v1/units/{w.hamlet_a.id}/coverage", headers=w.auth("officer A")
    )
    assert hamlet.status == 422
