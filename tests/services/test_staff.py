"""The roster: adding staff, roles bound to the right unit levels, phones, passwords and
one-time link codes (once only, and they expire)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import AuditEvent, LinkCode, LinkPurpose, Role, Staff, Unit, UnitLevel
from communepol.errors import Conflict, ValidationError
from communepol.services.staff import (
    ROLE_LEVELS,
    _check_role_unit,
    add_staff,
    consume_link_code,
    normalize_phone,
    parse_role,
    verify_password,
)

KEYRING = Keyring("r" * 40)


@pytest.fixture
async def units(db: TortoiseContext) -> dict[str, Unit]:
    province = await Unit.create(
        code="66",
        level=UnitLevel.PROVINCE,
        kind="Tỉnh",
        name="Tỉnh Đắk Lắk",
        name_folded="dak lak",
        path="/",
    )
    commune = await Unit.create(
        code="24181",
        level=UnitLevel.COMMUNE,
        kind="Xã",
        name="Xã Ea Kar",
        name_folded="ea kar",
        parent=province,
        path=f"/{province.id}/",
    )
    return {"province": province, "commune": commune}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0912 345 678", "+84912345678"),
        ("+84 912-345-678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("(0262) 3852 123", "+842623852123"),
    ],
)
def test_phone_numbers_are_normalised(typed: str, stored: str) -> None:
    assert normalize_phone(typed) == stored


@pytest.mark.parametrize("typed", ["12345", "0112345678", "+1 415 555 0100", "09123456789", "abc"])
def test_malformed_phone_numbers_are_refused(typed: str) -> None:
    with pytest.raises(ValidationError):
        normalize_phone(typed)


def test_unknown_role_lists_the_roles() -> None:
    with pytest.raises(ValidationError, match="officer, supervisor, admin"):
        parse_role("chief")


async def test_officer_is_added_with_a_link_code_and_audited(units: dict[str, Unit]) -> None:
    enrolment = await add_staff(
        KEYRING,
        full_name="  Nguyễn  Văn Tâm ",
        unit=units["commune"],
        role=Role.OFFICER,
        phone="0912345678",
    )
    staff = await Staff.get(id=enrolment.staff.id)
    assert staff.full_name == "Nguyễn Văn Tâm"
    assert staff.phone == "+84912345678"
    code_row = await LinkCode.get(staff_id=staff.id)
    assert code_row.code_hash == KEYRING.link_code_hash(enrolment.link_code)
    assert enrolment.link_code not in code_row.code_hash  # only the hash is stored
    event = await AuditEvent.get(action="staff.added")
    assert event.object_id == str(staff.id) and event.unit_id == units["commune"].id


@pytest.mark.parametrize(
    ("role", "unit_key"), [(Role.OFFICER, "province"), (Role.SUPERVISOR, "commune")]
)
async def test_role_must_fit_the_unit_level_and_nothing_is_written(
    units: dict[str, Unit], role: Role, unit_key: str
) -> None:
    with pytest.raises(ValidationError):
        await add_staff(KEYRING, full_name="Trần Bảo", unit=units[unit_key], role=role)
    assert await Staff.all().count() == 0
    assert await LinkCode.all().count() == 0


@pytest.mark.parametrize(
    ("role", "level"),
    [(role, level) for role in Role for level in UnitLevel if level not in ROLE_LEVELS[role]],
)
def test_a_role_on_the_wrong_level_names_the_levels_and_the_unit(
    role: Role, level: UnitLevel
) -> None:
    """One whole message per role and level (so each translates as a sentence), reading as the
    sentence the CLI always printed."""
    allowed = " or ".join(allowed.value for allowed in ROLE_LEVELS[role])
    article = "an" if role is not Role.SUPERVISOR else "a"
    with pytest.raises(ValidationError) as refused:
        _check_role_unit(role, Unit(name="Thôn Ea Sinh", level=level))
    assert refused.value.message == (
        f"{article} {role.value} must belong to a {allowed}; Thôn Ea Sinh is a {level.value}"
    )
    assert refused.value.params == {"unit": "Thôn Ea Sinh"} and refused.value.field == "unit"


async def test_bad_phone_writes_nothing(units: dict[str, Unit]) -> None:
    with pytest.raises(ValidationError):
        await add_staff(
            KEYRING, full_name="Trần Bảo", unit=units["commune"], role=Role.OFFICER, phone="12"
        )
    assert await Staff.all().count() == 0


async def test_admin_password_is_argon2id_and_username_unique(units: dict[str, Unit]) -> None:
    enrolment = await add_staff(
        KEYRING,
        full_name="Lê Nhung",
        unit=units["province"],
        role=Role.ADMIN,
        username="Quantri",
        password="correct horse battery",
    )
    stored = await Staff.get(id=enrolment.staff.id)
    assert stored.username == "quantri"
    assert stored.password_hash is not None and stored.password_hash.startswith("$argon2id$")
    assert verify_password(stored.password_hash, "correct horse battery")
    assert not verify_password(stored.password_hash, "wrong horse battery")
    with pytest.raises(Conflict):
        await add_staff(
            KEYRING,
            full_name="Another",
            unit=units["province"],
            role=Role.ADMIN,
            username="quantri",
            password="another long password",
        )
    assert await Staff.all().count() == 1


async def test_short_password_is_refused(units: dict[str, Unit]) -> None:
    with pytest.raises(ValidationError, match="at least 12"):
        await add_staff(
            KEYRING,
            full_name="Lê Nhung",
            unit=units["province"],
            role=Role.ADMIN,
            username="quantri",
            password="short",
        )


async def test_link_code_works_once_typed_loosely(units: dict[str, Unit]) -> None:
    enrolment = await add_staff(
        KEYRING, full_name="Y Bhim Niê", unit=units["commune"], role=Role.OFFICER
    )
    typed = enrolment.link_code.replace("-", " ").lower()
    used = await consume_link_code(KEYRING, typed, LinkPurpose.STAFF)
    assert used.staff_id == enrolment.staff.id  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="wrong, already used or expired"):
        await consume_link_code(KEYRING, enrolment.link_code, LinkPurpose.STAFF)


async def test_link_code_expires(units: dict[str, Unit]) -> None:
    enrolment = await add_staff(
        KEYRING, full_name="Y Bhim Niê", unit=units["commune"], role=Role.OFFICER
    )
    later = utcnow() + timedelta(hours=73)
    with pytest.raises(ValidationError):
        await consume_link_code(KEYRING, enrolment.link_code, LinkPurpose.STAFF, now=later)
    # still usable before expiry
    await consume_link_code(KEYRING, enrolment.link_code, LinkPurpose.STAFF)


async def test_a_code_is_not_valid_for_another_purpose(units: dict[str, Unit]) -> None:
    enrolment = await add_staff(
        KEYRING, full_name="Y Bhim Niê", unit=units["commune"], role=Role.OFFICER
    )
    with pytest.raises(ValidationError):
        await consume_link_code(KEYRING, enrolment.link_code, LinkPurpose.HOUSEHOLD_GROUP)
