"""Administrative units: import from the official list, search, resolve, hamlets, subtrees.

The expected data is computed from the ``vietnam-provinces`` package itself, so the tests follow
the package when it changes. Tests that only read share one fully imported database per engine
(``full``); tests that write get a fresh database (``db``) and import one or two provinces.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator

import pytest
from tortoise.context import TortoiseContext
from vietnam_provinces import Province, Ward

from communepol.db.models import Unit, UnitLevel
from communepol.db.orm import open_database
from communepol.errors import Conflict, UnitNotFound, ValidationError
from communepol.services import units as units_service
from communepol.services.units import (
    UnitImportResult,
    add_hamlet,
    count_units,
    import_units,
    resolve_unit,
    search_units,
    subtree_prefix,
    subtree_q,
)
from communepol.text import clean, fold
from tests.conftest import ENGINES, fresh_database

PROVINCES = {f"{int(p.code):02d}": p for p in Province.iter_all()}
WARDS = {f"{int(w.code):05d}": w for w in Ward.iter_all()}
DAK_LAK = "66"
CAO_BANG = "04"
DAK_LAK_WARDS = {code for code, ward in WARDS.items() if int(ward.province_code) == 66}
CU_MGAR, BUON_MA_THUOT, EA_KAR, M_DRAK = "24280", "24133", "24373", "24412"
VAN_MIEU = next(code for code, w in WARDS.items() if clean(w.name).endswith("Quốc Tử Giám"))
TYPOGRAPHIC_APOSTROPHES = "’‘ʼ`´"


def _province_of(code: str) -> str:
    return f"{int(WARDS[code].province_code):02d}"


# ---------------------------------------------------------------------------------------------
# A fully imported database per engine, shared by the read-only tests


async def _import_everything(url: str) -> None:
    async with open_database(url):
        await import_units()


@pytest.fixture(scope="module", params=ENGINES)
def imported_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database holding every province and commune, built once per engine."""
    with fresh_database(request, request.param, tmp_path_factory.mktemp("units")) as url:
        asyncio.run(_import_everything(url))
        yield url


@pytest.fixture
async def full(imported_url: str) -> AsyncIterator[TortoiseContext]:
    """The shared, fully imported database. Tests using it must not write."""
    async with open_database(imported_url) as ctx:
        yield ctx


async def _unit(code: str) -> Unit:
    return await Unit.get(code=code)


def _sql_statements(caplog: pytest.LogCaptureFixture) -> list[str]:
    statements = []
    for record in caplog.records:
        if record.name == "tortoise.db_client" and record.args:
            statement = str(record.args[0]).lstrip().split(" ", 1)[0].upper()
            if statement in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
                statements.append(statement)
    return statements


# ---------------------------------------------------------------------------------------------
# Import


async def test_full_import_loads_the_official_list_once(
    db: TortoiseContext, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.perf_counter()
    result = await import_units()
    elapsed = time.perf_counter() - started

    assert len(PROVINCES) == 34 and len(WARDS) == 3321  # the list in force since 1 July 2025
    assert result == UnitImportResult(provinces_created=len(PROVINCES), communes_created=len(WARDS))
    assert await count_units(UnitLevel.PROVINCE) == len(PROVINCES)
    assert await count_units(UnitLevel.COMMUNE) == len(WARDS)
    assert await count_units(UnitLevel.HAMLET) == 0
    assert elapsed < 10, f"the full import took {elapsed:.1f} s"

    provinces = {
        code: (unit_id, parent_id, path)
        for code, unit_id, parent_id, path in await Unit.filter(
            level=UnitLevel.PROVINCE
        ).values_list("code", "id", "parent_id", "path")
    }
    assert set(provinces) == set(PROVINCES)
    assert all(parent_id is None and path == "/" for _, parent_id, path in provinces.values())
    communes = await Unit.filter(level=UnitLevel.COMMUNE).values_list("code", "parent_id", "path")
    assert {code for code, _, _ in communes} == set(WARDS)
    for code, parent_id, path in communes:
        province_id = provinces[_province_of(code)][0]
        assert (parent_id, path) == (province_id, f"/{province_id}/"), code

    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
    caplog.clear()
    again = await import_units()
    assert again == UnitImportResult() and not again.changed
    assert str(again) == "provinces: 0 created, 0 updated; communes: 0 created, 0 updated"
    statements = _sql_statements(caplog)
    assert statements and set(statements) == {"SELECT"} and len(statements) <= 3, statements
    assert await count_units(UnitLevel.PROVINCE) == len(PROVINCES)
    assert await count_units(UnitLevel.COMMUNE) == len(WARDS)


async def test_stored_names_are_clean_and_follow_the_convention(full: TortoiseContext) -> None:
    rows = await Unit.all().values_list("code", "level", "kind", "name", "name_folded")
    assert len(rows) == len(PROVINCES) + len(WARDS)
    for code, level, kind, name, name_folded in rows:
        assert "  " not in name and name == name.strip(), name
        assert not any(mark in name for mark in TYPOGRAPHIC_APOSTROPHES), name
        assert unicodedata.is_normalized("NFC", name), name
        assert name == clean(name)
        assert name.startswith(f"{kind} "), name
        assert name_folded == fold(name.removeprefix(f"{kind} ")), name
        if level == UnitLevel.PROVINCE:
            assert len(code) == 2 and kind in {"Tỉnh", "Thành phố"}, name
        else:
            assert len(code) == 5 and kind in {"Xã", "Phường", "Đặc khu"}, name

    expected = {
        CU_MGAR: ("Xã", "Xã Cư M'gar", "cu mgar"),
        BUON_MA_THUOT: ("Phường", "Phường Buôn Ma Thuột", "buon ma thuot"),
        M_DRAK: ("Xã", "Xã M'Drắk", "mdrak"),
        DAK_LAK: ("Tỉnh", "Tỉnh Đắk Lắk", "dak lak"),
        "01": ("Thành phố", "Thành phố Hà Nội", "ha noi"),
    }
    for code, fields in expected.items():
        unit = await _unit(code)
        assert (unit.kind, unit.name, unit.name_folded) == fields


@pytest.mark.parametrize("ref", ["dak lak", "66", "Tỉnh Đắk Lắk", "ĐẮK  LẮK", "tinh dak lak"])
async def test_one_province_import_brings_only_its_communes(db: TortoiseContext, ref: str) -> None:
    result = await import_units(ref)

    assert result == UnitImportResult(provinces_created=1, communes_created=len(DAK_LAK_WARDS))
    assert await Unit.filter(level=UnitLevel.PROVINCE).values_list("code", flat=True) == [DAK_LAK]
    codes = await Unit.filter(level=UnitLevel.COMMUNE).values_list("code", flat=True)
    assert set(codes) == DAK_LAK_WARDS and len(codes) == len(DAK_LAK_WARDS)
    province = await _unit(DAK_LAK)
    assert await Unit.filter(level=UnitLevel.COMMUNE).exclude(parent_id=province.id).count() == 0
    assert await import_units(ref) == UnitImportResult()


@pytest.mark.parametrize("ref", ["Atlantis", "99", "dak lac"])
async def test_unknown_province_raises_and_writes_nothing(db: TortoiseContext, ref: str) -> None:
    with pytest.raises(UnitNotFound) as caught:
        await import_units(ref)

    assert repr(ref) in caught.value.message
    assert await Unit.all().count() == 0


async def test_close_province_name_is_suggested(db: TortoiseContext) -> None:
    with pytest.raises(UnitNotFound, match="did you mean Tỉnh Đắk Lắk"):
        await import_units("dak lac")


async def test_reimport_restores_changed_names_and_moved_communes(db: TortoiseContext) -> None:
    await import_units(DAK_LAK)
    await import_units(CAO_BANG)
    dak_lak, cao_bang = await _unit(DAK_LAK), await _unit(CAO_BANG)
    await Unit.filter(code=CU_MGAR).update(kind="Phường", name="Phường Cư Mgar", name_folded="x")
    await Unit.filter(code=EA_KAR).update(parent_id=cao_bang.id, path=f"/{cao_bang.id}/")
    ea_kar = await _unit(EA_KAR)
    hamlet = await add_hamlet(ea_kar, "Ea Sinh", "Buôn")
    assert hamlet.path == f"/{cao_bang.id}/{ea_kar.id}/"

    result = await import_units("Đắk Lắk")

    assert result == UnitImportResult(communes_updated=2)
    cu_mgar = await _unit(CU_MGAR)
    assert (cu_mgar.kind, cu_mgar.name, cu_mgar.name_folded) == ("Xã", "Xã Cư M'gar", "cu mgar")
    ea_kar = await _unit(EA_KAR)
    assert ea_kar.path == f"/{dak_lak.id}/"
    assert (await Unit.get(id=ea_kar.id).values_list("parent_id", flat=True)) == dak_lak.id
    assert (await Unit.get(id=hamlet.id)).path == f"/{dak_lak.id}/{ea_kar.id}/"
    assert await import_units(DAK_LAK) == UnitImportResult()


async def test_a_failing_import_is_rolled_back(
    db: TortoiseContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = units_service._commune_specs()
    duplicated = (*specs, next(spec for spec in specs if spec.parent_code == DAK_LAK))
    monkeypatch.setattr(units_service, "_commune_specs", lambda: duplicated)

    with pytest.raises(Conflict):
        await import_units(DAK_LAK)

    assert await Unit.all().count() == 0


# ---------------------------------------------------------------------------------------------
# Search


@pytest.mark.parametrize(
    ("query", "level", "code"),
    [
        ("cu mgar", None, CU_MGAR),
        ("Cư M’gar", None, CU_MGAR),
        ("xã cư m'gar", None, CU_MGAR),
        ("buon ma thuot", None, BUON_MA_THUOT),
        (unicodedata.normalize("NFD", "Buôn Ma Thuột"), None, BUON_MA_THUOT),
        ("Phường  Buôn Ma Thuột", UnitLevel.COMMUNE, BUON_MA_THUOT),
        ("ea kar", None, EA_KAR),
        ("Đắk Lắk", UnitLevel.PROVINCE, DAK_LAK),
        ("dak lak", UnitLevel.PROVINCE, DAK_LAK),
        ("DAK LAK", None, DAK_LAK),
        ("m'drak", None, M_DRAK),
        ("mdrak", None, M_DRAK),
        ("M’Drắk", None, M_DRAK),
        ("tp ho chi minh", None, "79"),
        ("van mieu quoc tu giam", None, VAN_MIEU),
        # typos
        ("ea kra", None, EA_KAR),
        ("cu mgra", None, CU_MGAR),
        ("buon me thuot", None, BUON_MA_THUOT),
        ("buonmathuot", None, BUON_MA_THUOT),
        # prefix and contains
        ("buon ma", None, BUON_MA_THUOT),
        ("ma thuot", None, BUON_MA_THUOT),
    ],
)
async def test_search_puts_the_right_unit_first(
    full: TortoiseContext, query: str, level: UnitLevel | None, code: str
) -> None:
    found = await search_units(query, level=level)

    assert found, f"nothing found for {query!r}"
    assert found[0].code == code, [unit.name for unit in found]


def _tier(name_folded: str, query: str) -> int:
    if name_folded == query:
        return 0
    if name_folded.startswith(query):
        return 1
    return 2 if query in name_folded else 3


@pytest.mark.parametrize("query", ["ea kar", "cu m", "thuot", "ea kra", "tan an"])
async def test_search_ranks_exact_then_prefix_then_contains_then_typos(
    full: TortoiseContext, query: str
) -> None:
    found = await search_units(query, limit=30)

    tiers = [_tier(unit.name_folded, query) for unit in found]
    assert tiers == sorted(tiers), [unit.name for unit in found]
    assert len(found) <= 30


async def test_search_level_and_limit(full: TortoiseContext) -> None:
    communes = await search_units("lao cai", level=UnitLevel.COMMUNE)
    assert communes[0].name == "Phường Lào Cai"
    assert all(unit.level == UnitLevel.COMMUNE for unit in communes)
    provinces = await search_units("lao cai", level=UnitLevel.PROVINCE)
    assert [unit.name for unit in provinces] == ["Tỉnh Lào Cai"]
    assert [unit.name for unit in await search_units("lao cai", limit=2)] == [
        "Tỉnh Lào Cai",
        "Phường Lào Cai",
    ]
    assert len(await search_units("tan", limit=3)) == 3
    with pytest.raises(ValidationError):
        await search_units("tan", limit=0)


async def test_search_within_a_province_stays_inside_it(full: TortoiseContext) -> None:
    dak_lak = await _unit(DAK_LAK)
    inside = await search_units("tan", within=dak_lak, limit=50)
    everywhere = await search_units("tan", limit=50)

    assert inside and {unit.code for unit in inside} <= DAK_LAK_WARDS
    assert any(_province_of(unit.code or "") != DAK_LAK for unit in everywhere)
    cu_mgar = await _unit(CU_MGAR)
    assert await search_units("ea kar", within=cu_mgar) == []
    assert [unit.code for unit in await search_units("cu mgar", within=cu_mgar)] == [CU_MGAR]


@pytest.mark.parametrize("query", ["", "   ", "’", "--", "x" * 201])
async def test_search_rejects_blank_or_oversized_queries(full: TortoiseContext, query: str) -> None:
    with pytest.raises(ValidationError):
        await search_units(query)


# ---------------------------------------------------------------------------------------------
# Resolve


@pytest.mark.parametrize(
    ("ref", "level", "code"),
    [
        (CU_MGAR, None, CU_MGAR),
        ("66", None, DAK_LAK),
        ("1", None, "01"),
        ("ea kar", None, EA_KAR),
        ("Cư M’gar", None, CU_MGAR),
        ("tinh lao cai", None, "15"),
        ("phường lào cai", None, "02647"),
        ("lao cai", UnitLevel.PROVINCE, "15"),
        ("Sơn Hà", None, "21289"),
        ("buon me thuot", None, BUON_MA_THUOT),
    ],
)
async def test_resolve_finds_one_unit(
    full: TortoiseContext, ref: str, level: UnitLevel | None, code: str
) -> None:
    assert (await resolve_unit(ref, level=level)).code == code


async def test_resolve_prefers_an_exact_name_over_close_ones(full: TortoiseContext) -> None:
    assert len(await search_units("ea kar")) > 1  # "Ea Kao", "Ea Khăl" … are close too
    assert (await resolve_unit("ea kar")).code == EA_KAR


async def test_resolve_lists_the_candidates_when_ambiguous(full: TortoiseContext) -> None:
    with pytest.raises(ValidationError) as caught:
        await resolve_unit("lao cai")
    message = caught.value.message
    assert "Tỉnh Lào Cai (15)" in message
    assert "Phường Lào Cai (02647, Tỉnh Lào Cai)" in message

    with pytest.raises(ValidationError) as caught:
        await resolve_unit("son ha")
    assert "Xã Sơn Hà (21289, Tỉnh Quảng Ngãi)" in caught.value.message
    assert "Xã Sơn Hạ (21292, Tỉnh Quảng Ngãi)" in caught.value.message

    same_name = [
        code for code, ward in WARDS.items() if fold(clean(ward.name)).endswith(" tan thanh")
    ]
    assert len(same_name) > 5
    with pytest.raises(ValidationError) as caught:
        await resolve_unit("tan thanh")
    message = caught.value.message
    listed = [code for code in same_name if f"({code}, " in message]
    assert len(listed) == 5, message
    for code in listed:
        assert PROVINCES[_province_of(code)].name in message
    assert f"and {len(same_name) - 5} more" in message


async def test_resolve_unknown_and_blank(full: TortoiseContext) -> None:
    with pytest.raises(UnitNotFound) as caught:
        await resolve_unit("xyzxyz")
    assert caught.value.message == "no unit matches 'xyzxyz'"
    with pytest.raises(UnitNotFound):
        await resolve_unit("99999")
    with pytest.raises(ValidationError):
        await resolve_unit("  ")


# ---------------------------------------------------------------------------------------------
# Hamlets and subtrees


async def test_add_hamlet_stores_the_kind_once(db: TortoiseContext) -> None:
    await import_units(DAK_LAK)
    ea_kar = await _unit(EA_KAR)

    sinh = await add_hamlet(ea_kar, "Ea  Sinh", "Buôn")
    tit = await add_hamlet(ea_kar, "thôn Ea Tít")
    bong = await add_hamlet(ea_kar, "Buôn Ea Bông", kind="buôn")
    lieng = await add_hamlet(ea_kar, "M’Lieng", kind="Buôn")

    assert (sinh.name, sinh.kind, sinh.name_folded) == ("Buôn Ea Sinh", "Buôn", "ea sinh")
    assert (tit.name, tit.kind, tit.name_folded) == ("Thôn Ea Tít", "Thôn", "ea tit")
    assert (bong.name, bong.kind) == ("Buôn Ea Bông", "Buôn")
    assert lieng.name == "Buôn M'Lieng"
    for hamlet in (sinh, tit, bong, lieng):
        stored = await Unit.get(id=hamlet.id)
        assert stored.level == UnitLevel.HAMLET and stored.code is None
        assert stored.path == subtree_prefix(ea_kar) == f"{ea_kar.path}{ea_kar.id}/"
        assert await Unit.get(id=hamlet.id).values_list("parent_id", flat=True) == ea_kar.id
    assert await count_units(UnitLevel.HAMLET) == 4
    assert [u.id for u in await search_units("ea sinh", level=UnitLevel.HAMLET)] == [sinh.id]
    assert (await resolve_unit("buon ea sinh", level=UnitLevel.HAMLET)).id == sinh.id


async def test_add_hamlet_rejects_duplicates_and_bad_input(db: TortoiseContext) -> None:
    await import_units(DAK_LAK)
    ea_kar, cu_mgar, dak_lak = await _unit(EA_KAR), await _unit(CU_MGAR), await _unit(DAK_LAK)
    sinh = await add_hamlet(ea_kar, "Ea Sinh", "Buôn")

    for name, kind in [("buôn ea sinh", "Buôn"), ("Ea Sính", "buôn"), ("EA SINH", "Buôn")]:
        with pytest.raises(Conflict):
            await add_hamlet(ea_kar, name, kind)
    # The same name is fine under another commune, and as another kind of hamlet.
    assert (await add_hamlet(cu_mgar, "Ea Sinh", "Buôn")).name == "Buôn Ea Sinh"
    assert (await add_hamlet(ea_kar, "Ea Sinh", "Thôn")).name == "Thôn Ea Sinh"

    for parent in (dak_lak, sinh):
        with pytest.raises(ValidationError):
            await add_hamlet(parent, "Thôn 1")
    for name in ["", "   ", "Thôn", "thôn  ", "x" * 200]:
        with pytest.raises(ValidationError):
            await add_hamlet(ea_kar, name)
    with pytest.raises(ValidationError):
        await add_hamlet(ea_kar, "Ea Sinh", kind=" ")
    assert await count_units(UnitLevel.HAMLET) == 3


async def test_subtree_is_the_unit_and_everything_under_it(db: TortoiseContext) -> None:
    await import_units(DAK_LAK)
    await import_units(CAO_BANG)
    dak_lak, ea_kar = await _unit(DAK_LAK), await _unit(EA_KAR)
    hamlet = await add_hamlet(ea_kar, "Thôn 1")
    elsewhere = await add_hamlet(await _unit(next(iter(sorted(_cao_bang_wards())))), "Thôn 1")

    province_tree = await Unit.filter(subtree_q(dak_lak)).values_list("id", "code")
    assert {code for _, code in province_tree if code} == {DAK_LAK} | DAK_LAK_WARDS
    assert hamlet.id in {unit_id for unit_id, _ in province_tree}
    assert elsewhere.id not in {unit_id for unit_id, _ in province_tree}
    assert len(province_tree) == 1 + len(DAK_LAK_WARDS) + 1

    commune_tree = await Unit.filter(subtree_q(ea_kar)).values_list("id", flat=True)
    assert sorted(commune_tree) == sorted([ea_kar.id, hamlet.id])
    assert await Unit.filter(subtree_q(hamlet)).values_list("id", flat=True) == [hamlet.id]
    assert subtree_prefix(dak_lak) == f"/{dak_lak.id}/"


def _cao_bang_wards() -> set[str]:
    return {code for code in WARDS if _province_of(code) == CAO_BANG}


async def test_inactive_units_are_not_searched_but_resolve_by_code(db: TortoiseContext) -> None:
    await import_units(DAK_LAK)
    await Unit.filter(code=CU_MGAR).update(active=False)

    assert CU_MGAR not in {unit.code for unit in await search_units("cu mgar")}
    assert (await resolve_unit("xã cư m'gar")).code != CU_MGAR  # a close name, if any
    assert (await resolve_unit(CU_MGAR)).code == CU_MGAR
