"""The roster: putting people on it, their roles, passwords and one-time link codes.

Only rostered staff act for the police. Putting someone on the roster prints a one-time link
code; the person sends it to the bot to link their Telegram or Zalo identity (the bot side
arrives with the bot-channel work). A code is stored only as a keyed hash, works once and
expires. Every change is audited.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import LinkCode, LinkPurpose, Role, Staff, Unit, UnitLevel
from communepol.errors import Conflict, ValidationError
from communepol.services import audit
from communepol.text import clean

STAFF_LINK_CODE_TTL = timedelta(hours=72)
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud by phone
LINK_CODE_LENGTH = 8
PASSWORD_MIN_LENGTH = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")

# Which unit levels each role may be bound to.
ROLE_LEVELS: dict[Role, tuple[UnitLevel, ...]] = {
    Role.OFFICER: (UnitLevel.COMMUNE,),
    Role.SUPERVISOR: (UnitLevel.PROVINCE, UnitLevel.DISTRICT),
    Role.ADMIN: (UnitLevel.PROVINCE, UnitLevel.DISTRICT, UnitLevel.COMMUNE),
}

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(frozen=True)
class Enrolment:
    """A staff member just put on the roster, and the code they link their bot with."""

    staff: Staff
    link_code: str
    link_code_expires_at: datetime


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError as err:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationError(
            f"unknown role {value!r}: use one of {allowed}", field="role"
        ) from err


def normalize_phone(value: str) -> str:
    """A Vietnamese phone number in +84 form: "0912 345 678", "84912345678" and
    "+84 912-345-678" are all "+84912345678". Mobile numbers have 9 digits after the
    country code, landlines 10 (starting with 2)."""
    digits = _PHONE_SEPARATORS.sub("", value.strip())
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        national = ""
    valid = national.isdigit() and (
        (len(national) == 9 and national[0] in "35789")
        or (len(national) == 10 and national[0] == "2")
    )
    if not valid:
        raise ValidationError(f"{value!r} is not a Vietnamese phone number", field="phone")
    return "+84" + national


def clean_full_name(value: str) -> str:
    name = clean(value)
    if not 2 <= len(name) <= 200 or not any(ch.isalpha() for ch in name):
        raise ValidationError("a full name needs 2 to 200 characters", field="full_name")
    return name


def check_username(value: str) -> str:
    username = value.strip().lower()
    if not _USERNAME.match(username):
        raise ValidationError(
            "a username is 3-64 characters: letters, digits, dot, dash, underscore",
            field="username",
        )
    return username


def hash_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationError(
            f"a password needs at least {PASSWORD_MIN_LENGTH} characters", field="password"
        )
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


def generate_link_code() -> str:
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    return f"{code[:4]}-{code[4:]}"


def normalize_link_code(value: str) -> str:
    """What a person types — lower case, spaces, a missing dash — in the printed form."""
    bare = re.sub(r"[\s\-]", "", value).upper()
    return f"{bare[:4]}-{bare[4:]}" if len(bare) == LINK_CODE_LENGTH else bare


def _check_role_unit(role: Role, unit: Unit) -> None:
    if unit.level not in ROLE_LEVELS[role]:
        levels = " or ".join(level.value for level in ROLE_LEVELS[role])
        article = "an" if role.value[0] in "aeiou" else "a"
        raise ValidationError(
            f"{article} {role.value} must belong to a {levels}; "
            f"{unit.name} is a {unit.level.value}",
            field="unit",
        )


async def issue_link_code(
    keyring: Keyring,
    staff: Staff,
    *,
    created_by: Staff | None = None,
    now: datetime | None = None,
    ttl: timedelta = STAFF_LINK_CODE_TTL,
) -> tuple[str, datetime]:
    """A new one-time code for ``staff`` to link a bot identity."""
    now = now or utcnow()
    code = generate_link_code()
    expires_at = now + ttl
    await LinkCode.create(
        code_hash=keyring.link_code_hash(code),
        purpose=LinkPurpose.STAFF,
        staff=staff,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
    )
    return code, expires_at


async def consume_link_code(
    keyring: Keyring, code: str, purpose: LinkPurpose, *, now: datetime | None = None
) -> LinkCode:
    """Use a code once. Wrong, used and expired codes get the same answer, so the reply does
    not tell a guesser which codes exist. The conditional UPDATE makes two simultaneous uses
    of one code succeed at most once."""
    now = now or utcnow()
    code_hash = keyring.link_code_hash(normalize_link_code(code))
    used = await LinkCode.filter(
        code_hash=code_hash, purpose=purpose, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if used != 1:
        raise ValidationError("this code is wrong, already used or expired", field="code")
    return await LinkCode.get(code_hash=code_hash)


async def add_staff(
    keyring: Keyring,
    *,
    full_name: str,
    unit: Unit,
    role: Role,
    phone: str | None = None,
    username: str | None = None,
    password: str | None = None,
    created_by: Staff | None = None,
    source: str = "cli",
    now: datetime | None = None,
) -> Enrolment:
    """Put a person on the roster of ``unit`` with ``role`` and issue their link code.
    Everything is validated before anything is written; all of it is one transaction."""
    now = now or utcnow()
    name = clean_full_name(full_name)
    _check_role_unit(role, unit)
    phone_e164 = normalize_phone(phone) if phone else None
    login = check_username(username) if username else None
    password_hash = hash_password(password) if password is not None else None
    if password_hash and not login:
        raise ValidationError("a password needs a username", field="username")
    async with in_transaction():
        try:
            staff = await Staff.create(
                full_name=name,
                unit=unit,
                role=role,
                phone=phone_e164,
                username=login,
                password_hash=password_hash,
                created_at=now,
            )
        except IntegrityError as err:
            raise Conflict(f"the username {login!r} is taken") from err
        code, expires_at = await issue_link_code(keyring, staff, created_by=created_by, now=now)
        await audit.record(
            "staff.added",
            actor=created_by,
            object_type="staff",
            object_id=staff.id,
            unit_id=unit.id,
            source=source,
            data={"role": role.value, "web_login": bool(login)},
        )
    return Enrolment(staff=staff, link_code=code, link_code_expires_at=expires_at)
