"""A service's refusal on an admin page reads in the staff member's language: Vietnamese by
default, English for a staff member who chose English — a refused household form, a CSV file
refused whole, each refused row of an import, and a newcomer the roster refuses, with the names
and values it quotes left as they were typed."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from communepol.db.models import Household, Staff, Unit, UnitLevel
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, signed_in

ERROR = re.compile(r'<p class="error" role="alert">([^<]*)</p>')
REFUSED_ROW = re.compile(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>")


async def _hamlet(people: Scene) -> Unit:
    return await Unit.get(parent_id=people.commune_a.id, level=UnitLevel.HAMLET)


async def _officer(
    client: TestClient[Any, Any], people: Scene, clock: Clock, locale: str
) -> Browser:
    await Staff.filter(id=people.officer_a.id).update(locale=locale)
    return await signed_in(client, people.officer_a, clock, {})


def _error(html: str) -> str:
    found = ERROR.search(html)
    assert found, "the page shows no refusal"
    return unescape(found.group(1))


@pytest.mark.parametrize(
    ("locale", "members", "registered"),
    [
        (
            "vi",
            "số người phải là số nguyên từ 1 đến 50",
            "hộ này đã được đăng ký",
        ),
        (
            "en",
            "members must be a whole number from 1 to 50",
            "this household is already registered",
        ),
    ],
    ids=["vi", "en"],
)
async def test_a_refused_household_reads_in_the_staff_members_language(
    client: TestClient[Any, Any],
    people: Scene,
    clock: Clock,
    locale: str,
    members: str,
    registered: str,
) -> None:
    hamlet = await _hamlet(people)
    await Household.create(hamlet=hamlet, head_name="Y Kông Êban", members_count=5, address="A1")
    browser = await _officer(client, people, clock, locale)
    path = f"/admin/households?commune={people.commune_a.id}"
    token = csrf_of(await (await browser.get(path)).text())
    form = {"csrf": token, "hamlet": str(hamlet.id), "head": "Y Blô Niê", "address": "Nhà 12"}

    too_many = await browser.post(path, {**form, "members": "99"})
    assert too_many.status == 400
    assert _error(await too_many.text()) == members

    same = {"head": "y kông êban", "members": "5", "address": "a1"}  # case and accents aside
    twice = await browser.post(path, {**form, **same})
    assert twice.status == 409
    assert _error(await twice.text()) == registered
    assert await Household.filter(hamlet_id=hamlet.id).count() == 1


def _upload(token: str, sheet: str) -> FormData:
    form = FormData()
    form.add_field("csrf", token)
    form.add_field("file", sheet.encode(), filename="ho.csv", content_type="text/csv")
    return form


SHEET = (
    "thon,chu_ho,so_nguoi,dia_chi,so_dien_thoai\n"
    "Ea Sinh,H'Nga Êban,4,Nhà 20,\n"
    "Ea Sinh,,3,Nhà 21,\n"
    "Thôn Không Có,Lê Văn Tám,2,,\n"
    "Ea Sinh,Y Mớt,80,,\n"
    "Ea Sinh,Y Bhim Niê,3,,12345\n"
)


@pytest.mark.parametrize(
    ("locale", "reasons", "whole_file"),
    [
        (
            "vi",
            [
                "chưa ghi chủ hộ",
                "Xã Ea Pốk không có thôn nào tên 'Thôn Không Có'",
                "số người phải là số nguyên từ 1 đến 50",
                "'12345' không phải số điện thoại Việt Nam",
            ],
            "tệp cần có các cột thon (thôn), chu_ho (chủ hộ) và so_nguoi (số người); "
            "còn thiếu: members",
        ),
        (
            "en",
            [
                "the head of household is empty",
                "Xã Ea Pốk has no hamlet called 'Thôn Không Có'",
                "members must be a whole number from 1 to 50",
                "'12345' is not a Vietnamese phone number",
            ],
            "the file needs the columns thon (hamlet), chu_ho (head) and so_nguoi (members); "
            "missing: members",
        ),
    ],
    ids=["vi", "en"],
)
async def test_an_imports_refusals_read_in_the_staff_members_language(
    client: TestClient[Any, Any],
    people: Scene,
    clock: Clock,
    locale: str,
    reasons: list[str],
    whole_file: str,
) -> None:
    hamlet = await _hamlet(people)
    browser = await _officer(client, people, clock, locale)
    commune = people.commune_a.id
    token = csrf_of(await (await browser.get(f"/admin/households?commune={commune}")).text())

    upload = f"/admin/households/import?commune={commune}"
    imported = await browser.post(upload, _upload(token, SHEET))
    assert imported.status == 200
    rows = [(int(line), unescape(why)) for line, why in REFUSED_ROW.findall(await imported.text())]
    assert rows == list(zip([3, 4, 5, 6], reasons, strict=True))
    assert await Household.filter(hamlet_id=hamlet.id).count() == 1

    no_members = "thon,chu_ho\nEa Sinh,Y Mớt\n"
    refused = await browser.post(upload, _upload(token, no_members))
    assert refused.status == 400
    assert _error(await refused.text()) == whole_file
    assert await Household.filter(hamlet_id=hamlet.id).count() == 1


@pytest.mark.parametrize(
    ("locale", "phone", "wrong_unit"),
    [
        pytest.param(
            "vi",
            "'12345' không phải số điện thoại Việt Nam",
            "cán bộ chỉ huy phải thuộc tỉnh hoặc huyện; Xã Ea Pốk là xã/phường",
            id="vi",
        ),
        pytest.param(
            "en",
            "'12345' is not a Vietnamese phone number",
            "a supervisor must belong to a province or district; Xã Ea Pốk is a commune",
            id="en",
        ),
    ],
)
async def test_a_refused_newcomer_on_the_roster_reads_in_the_staff_members_language(
    client: TestClient[Any, Any],
    people: Scene,
    clock: Clock,
    locale: str,
    phone: str,
    wrong_unit: str,
) -> None:
    await Staff.filter(id=people.supervisor_1.id).update(locale=locale)
    browser = await signed_in(client, people.supervisor_1, clock, {})
    token = csrf_of(await (await browser.get("/admin/staff")).text())
    form = {"csrf": token, "full_name": "Hoàng Văn Mới", "unit": str(people.commune_a.id)}

    bad_phone = await browser.post("/admin/staff", {**form, "role": "officer", "phone": "12345"})
    assert bad_phone.status == 400
    assert _error(await bad_phone.text()) == phone

    # The unit's name is quoted as it is written, inside the translated sentence.
    supervisor_of_a_commune = await browser.post("/admin/staff", {**form, "role": "supervisor"})
    assert supervisor_of_a_commune.status == 400
    assert _error(await supervisor_of_a_commune.text()) == wrong_unit
    assert not await Staff.exists(full_name="Hoàng Văn Mới")
