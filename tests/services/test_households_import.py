"""Importing households from the station's spreadsheet: good rows are kept, every bad row is
named with its line and reason, nothing is half-imported, and a file that is not the expected
CSV is refused whole."""

from __future__ import annotations

import pytest
from tortoise.context import TortoiseContext

from communepol.db.models import AuditEvent, Household, Unit, UnitLevel
from communepol.errors import ValidationError
from communepol.services import households
from communepol.services.units import add_hamlet
from tests import pagekit

FILE = """\ufeffThôn,Chủ hộ,Số người,Địa chỉ,Số điện thoại
Buôn Ea Sinh,Y Kông Êban,6,Nhà 3,0912 345 678
Ea Sinh,H'Luyến Kbuôr,4,Nhà 5,
Buôn Ea Sinh,,3,Nhà 7,
Buôn Ea Sinh,Y Sơn Mlô,nhiều,Nhà 8,
Thôn 9,Lê Văn Cường,4,Nhà 20,
Buôn Ea Sinh,Phạm Thị Lan,2,Nhà 23,12345

Buôn Ea Sinh,Y Kông Êban,6,Nhà 3,
buon ea sinh,Y Wang Byă,8,Nhà 27,+84 262 3812 345
"""


async def commune() -> Unit:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    cu_mgar = await pagekit.unit("Xã Cư M'gar", parent=province, code="24181")
    await add_hamlet(cu_mgar, "Ea Sinh", kind="Buôn")
    return cu_mgar


async def test_good_rows_are_kept_and_each_bad_row_is_named(db: TortoiseContext) -> None:
    cu_mgar = await commune()
    result = await households.import_households(cu_mgar, FILE.encode())

    assert result.added == 3
    assert [(row.line, row.reason) for row in result.bad] == [
        (4, "the head of household is empty"),
        (5, "members must be a whole number from 1 to 50"),
        (6, "Xã Cư M'gar has no hamlet called 'Thôn 9'"),
        (7, "'12345' is not a Vietnamese phone number"),
        (9, "this household is already registered"),  # line 2 again
    ]
    stored = (
        await Household.all()
        .order_by("id")
        .values_list("head_name", "members_count", "address", "phone")
    )
    assert stored == [
        ("Y Kông Êban", 6, "Nhà 3", "+84912345678"),
        ("H'Luyến Kbuôr", 4, "Nhà 5", None),
        ("Y Wang Byă", 8, "Nhà 27", "+842623812345"),
    ]
    assert await AuditEvent.filter(action="households.imported").count() == 1

    again = await households.import_households(cu_mgar, FILE.encode())
    assert again.added == 0  # importing the same file twice adds nobody twice
    assert await Household.all().count() == 3


async def test_hamlets_the_file_names_can_be_added(db: TortoiseContext) -> None:
    cu_mgar = await commune()
    result = await households.import_households(cu_mgar, FILE.encode(), create_hamlets=True)
    assert result.hamlets_added == ["Thôn 9"]
    assert result.added == 4
    assert await Unit.filter(parent_id=cu_mgar.id, level=UnitLevel.HAMLET).count() == 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        ("Tên,Tuổi\nAn,30\n".encode(), "missing: hamlet, head, members"),
        ("Thôn,Chủ hộ,Số người\n".encode("utf-16"), "not UTF-8"),
    ],
)
async def test_a_file_that_is_not_the_expected_csv_is_refused_whole(
    db: TortoiseContext, data: bytes, reason: str
) -> None:
    cu_mgar = await commune()
    with pytest.raises(ValidationError, match=reason):
        await households.import_households(cu_mgar, data)
    assert not await Household.exists()


async def test_a_database_failure_leaves_nothing_half_imported(
    db: TortoiseContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    cu_mgar = await commune()
    created = Household.create
    calls = 0

    async def failing(*args: object, **kwargs: object) -> Household:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the disk is full")
        return await created(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Household, "create", failing)
    with pytest.raises(RuntimeError):
        await households.import_households(cu_mgar, FILE.encode())
    monkeypatch.undo()
    assert not await Household.exists()


async def test_old_line_ends_are_read_and_a_broken_file_is_refused_whole(
    db: TortoiseContext,
) -> None:
    cu_mgar = await commune()
    classic = "thon,chu_ho,so_nguoi\rBuôn Ea Sinh,Y Kông Êban,6\rEa Sinh,H'Nga,2\r"
    result = await households.import_households(cu_mgar, classic.encode())
    assert (result.added, result.bad) == (2, [])
    broken = "thon,chu_ho,so_nguoi\nBuôn Ea Sinh,\"Y Bhim Niê,3\nEa Sinh,H'Nga,2\n"
    with pytest.raises(ValidationError) as refused:
        await households.import_households(cu_mgar, broken.encode())
    assert refused.value.field == "file"
    assert await Household.all().count() == 2
