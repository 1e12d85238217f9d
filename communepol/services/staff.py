"""The roster: putting people on it, their roles, web logins and one-time link codes.

Only rostered staff act for the police. Putting someone on the roster prints a one-time link
code; the person sends it to the bot to link their Telegram or Zalo identity (the bot side
arrives with the bot-channel work). A code is stored only as a keyed hash, works once and
expires. Every change is audited.

A supervisor or admin may also give someone a web login, or reset it: the service makes a
random initial password, shown once, which stops working after 72 hours if unused and must be
replaced at the first sign-in (ASVS 6.4.1; the sign-in side is `services.auth`). A reset, like
a deactivation or "end sessions", ends every web session of that person. Passwords a person
chooses pass `services.passwords.check_new_password`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    DutyShift,
    LinkCode,
    LinkPurpose,
    Role,
    Staff,
    StaffIdentity,
    Unit,
    UnitLevel,
    WebSession,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import _
from communepol.services import audit, scope
from communepol.services.auth import IDLE_TIMEOUT, end_web_sessions
from communepol.services.passwords import (
    PwnedPasswords,
    check_new_password,
    generate_password,
    hash_password,
)
from communepol.services.passwords import (
    verify_password as verify_password,  # re-exported: callers know it from here
)
from communepol.text import clean

STAFF_LINK_CODE_TTL = timedelta(hours=72)
INITIAL_PASSWORD_TTL = timedelta(hours=72)
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud by phone
LINK_CODE_LENGTH = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")

# Which unit levels each role may be bound to.
ROLE_LEVELS: dict[Role, tuple[UnitLevel, ...]] = {
    Role.OFFICER: (UnitLevel.COMMUNE,),
    Role.SUPERVISOR: (UnitLevel.PROVINCE, UnitLevel.DISTRICT),
    Role.ADMIN: (UnitLevel.PROVINCE, UnitLevel.DISTRICT, UnitLevel.COMMUNE),
}

# A role on a unit of the wrong level, one whole message for each pair (the role and the levels
# are words to translate, not values); the unit's name is the value.
_WRONG_UNIT: dict[tuple[Role, UnitLevel], str] = {
    (Role.OFFICER, UnitLevel.PROVINCE): _(
        "an officer must belong to a commune; {unit} is a province"
    ),
    (Role.OFFICER, UnitLevel.DISTRICT): _(
        "an officer must belong to a commune; {unit} is a district"
    ),
    (Role.OFFICER, UnitLevel.HAMLET): _("an officer must belong to a commune; {unit} is a hamlet"),
    (Role.SUPERVISOR, UnitLevel.COMMUNE): _(
        "a supervisor must belong to a province or district; {unit} is a commune"
    ),
    (Role.SUPERVISOR, UnitLevel.HAMLET): _(
        "a supervisor must belong to a province or district; {unit} is a hamlet"
    ),
    (Role.ADMIN, UnitLevel.HAMLET): _(
        "an admin must belong to a province or district or commune; {unit} is a hamlet"
    ),
}
_NOT_GRANTABLE: dict[Role, str] = {
    Role.OFFICER: _("you may not make someone officer"),
    Role.SUPERVISOR: _("you may not make someone supervisor"),
    Role.ADMIN: _("you may not make someone admin"),
}


@dataclass(frozen=True)
class Enrolment:
    """A staff member just put on the roster, and the code they link their bot with."""

    staff: Staff
    link_code: str
    link_code_expires_at: datetime
    initial_password: str | None = None  # given from the roster: shown once, never stored
    password_expires_at: datetime | None = None


@dataclass(frozen=True)
class InitialPassword:
    """A web login's random initial password, to be shown once."""

    staff: Staff
    username: str
    password: str
    expires_at: datetime


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError as err:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationError(
            _("unknown role {value!r}: use one of {roles}"),
            field="role",
            value=value,
            roles=allowed,
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
        raise ValidationError(
            _("{phone!r} is not a Vietnamese phone number"), field="phone", phone=value
        )
    return "+84" + national


def clean_full_name(value: str) -> str:
    name = clean(value)
    if not 2 <= len(name) <= 200 or not any(ch.isalpha() for ch in name):
        raise ValidationError(_("a full name needs 2 to 200 characters"), field="full_name")
    return name


def check_username(value: str) -> str:
    username = value.strip().lower()
    if not _USERNAME.match(username):
        raise ValidationError(
            _("a username is 3-64 characters: letters, digits, dot, dash, underscore"),
            field="username",
        )
    return username


def generate_link_code() -> str:
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _position in range(LINK_CODE_LENGTH))
    return f"{code[:4]}-{code[4:]}"


def normalize_link_code(value: str) -> str:
    """What a person types — lower case, spaces, a missing dash — in the printed form."""
    bare = re.sub(r"[\s\-]", "", value).upper()
    return f"{bare[:4]}-{bare[4:]}" if len(bare) == LINK_CODE_LENGTH else bare


def _check_role_unit(role: Role, unit: Unit) -> None:
    if unit.level not in ROLE_LEVELS[role]:
        raise ValidationError(_WRONG_UNIT[role, unit.level], field="unit", unit=unit.name)


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
        raise ValidationError(_("this code is wrong, already used or expired"), field="code")
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
    initial_password: bool = False,
    breaches: PwnedPasswords | None = None,
    created_by: Staff | None = None,
    source: str = "cli",
    now: datetime | None = None,
) -> Enrolment:
    """Put a person on the roster of ``unit`` with ``role`` and issue their link code; with a
    ``username``, give them a web login: ``password`` (which must pass the password policy,
    checked against ``breaches`` too when given) or, with ``initial_password``, a random one
    to be changed at the first sign-in. Everything is validated before anything is written;
    all of it is one transaction."""
    now = now or utcnow()
    name = clean_full_name(full_name)
    _check_role_unit(role, unit)
    phone_e164 = normalize_phone(phone) if phone else None
    login = check_username(username) if username else None
    if (password is not None or initial_password) and not login:
        raise ValidationError(_("a password needs a username"), field="username")
    if password is not None:
        await check_new_password(password, context=(login, name, unit.name), breaches=breaches)
    initial = generate_password() if initial_password and password is None else None
    chosen = password if password is not None else initial
    password_hash = await asyncio.to_thread(hash_password, chosen) if chosen else None
    expires = now + INITIAL_PASSWORD_TTL if initial else None
    async with in_transaction():
        try:
            staff = await Staff.create(
                full_name=name,
                unit=unit,
                role=role,
                phone=phone_e164,
                username=login,
                password_hash=password_hash,
                password_must_change=initial is not None,
                password_expires_at=expires,
                created_at=now,
            )
        except IntegrityError as err:
            raise Conflict(_("This username is taken.")) from err
        code, expires_at = await issue_link_code(keyring, staff, created_by=created_by, now=now)
        await audit.record(
            "staff.added",
            actor=created_by,
            object_type="staff",
            object_id=staff.id,
            unit_id=unit.id,
            source=source,
            data={
                "role": role.value,
                "web_login": bool(login),
                "initial_password": initial is not None,
            },
        )
    return Enrolment(
        staff=staff,
        link_code=code,
        link_code_expires_at=expires_at,
        initial_password=initial,
        password_expires_at=expires,
    )


# --- the roster in the admin web: a supervisor's or an admin's own subtree ------------------------


@dataclass(frozen=True)
class RosterEntry:
    staff: Staff
    unit: Unit
    bot_linked: bool
    web_login: bool
    on_duty: bool
    # Counted for managers only (they may end them): sessions neither revoked nor timed out.
    open_sessions: int = 0


def _subtree_filter(unit: Unit) -> dict[str, object]:
    return {"path__startswith": f"{unit.path}{unit.id}/"}


async def _subtree_units(unit: Unit) -> list[Unit]:
    below = await Unit.filter(**_subtree_filter(unit)).exclude(level=UnitLevel.HAMLET)
    return [unit, *sorted(below, key=lambda u: (u.path.count("/"), u.name, u.id))]


async def roster(actor: Staff) -> list[RosterEntry]:
    """The staff of ``actor``'s unit and every unit below it (an officer: their commune's),
    active ones first, by unit and name."""
    own = await Unit.get(id=actor.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(actor, own)  # a deactivated actor is refused here
    units = {unit.id: unit for unit in await _subtree_units(own)}
    people = await Staff.filter(unit_id__in=list(units)).order_by("full_name", "id")
    ids = [person.id for person in people]
    linked = set(await StaffIdentity.filter(staff_id__in=ids).values_list("staff_id", flat=True))
    present = set(
        await DutyShift.filter(staff_id__in=ids, ended_at__isnull=True).values_list(
            "staff_id", flat=True
        )
    )
    sessions = await open_session_counts(ids) if may_manage(actor) else Counter()
    order = {unit_id: n for n, unit_id in enumerate(units)}
    entries = [
        RosterEntry(
            person,
            units[person.unit_id],  # type: ignore[attr-defined]
            person.id in linked,
            bool(person.username and person.password_hash),
            person.id in present,
            sessions[person.id],
        )
        for person in people
    ]
    entries.sort(
        key=lambda e: (not e.staff.active, order[e.unit.id], e.staff.full_name, e.staff.id)
    )
    return entries


async def open_session_counts(staff_ids: list[int], *, now: datetime | None = None) -> Counter[int]:
    """How many web sessions of each of ``staff_ids`` are open: not revoked, and neither past
    their absolute end nor idle too long (those are revoked at their next request)."""
    now = now or utcnow()
    owners = await WebSession.filter(
        staff_id__in=staff_ids,
        revoked_at__isnull=True,
        expires_at__gt=now,
        last_seen_at__gt=now - IDLE_TIMEOUT,
    ).values_list("staff_id", flat=True)
    return Counter(int(owner) for owner in owners)  # type: ignore[call-overload]


def may_manage(actor: Staff) -> bool:
    """Supervisors and admins manage the roster of their subtree; officers only read theirs."""
    return actor.active and actor.role in scope.APPROVER_ROLES


def _require_manager(actor: Staff) -> None:
    if not may_manage(actor):
        raise PermissionDenied(_("only a supervisor or an admin manages the roster"))


def grantable_roles(actor: Staff) -> list[Role]:
    """The roles ``actor`` may give: a supervisor never makes an admin."""
    if not may_manage(actor):
        return []
    if actor.role is Role.ADMIN:
        return [Role.OFFICER, Role.SUPERVISOR, Role.ADMIN]
    return [Role.OFFICER, Role.SUPERVISOR]


def _require_grant(actor: Staff, role: Role) -> None:
    if role not in grantable_roles(actor):
        raise PermissionDenied(_NOT_GRANTABLE[role])


async def roster_units(actor: Staff) -> list[Unit]:
    """The units ``actor`` may put someone on the roster of (no hamlets: nobody works there)."""
    _require_manager(actor)
    own = await Unit.get(id=actor.unit_id)  # type: ignore[attr-defined]
    return await _subtree_units(own)


async def managed_staff(actor: Staff, staff_id: int) -> Staff:
    """A staff member ``actor`` may manage: in their subtree (else `NotFound`), and not an
    admin unless ``actor`` is one (else `PermissionDenied`)."""
    _require_manager(actor)
    target = await Staff.get_or_none(id=staff_id).select_related("unit")
    if target is None:
        raise NotFound("not found")
    await scope.require_unit(actor, target.unit)
    if target.role is Role.ADMIN and actor.role is not Role.ADMIN:
        raise PermissionDenied(_("only an admin manages an admin"))
    return target


async def add_staff_in_scope(
    keyring: Keyring,
    actor: Staff,
    *,
    full_name: str,
    unit_id: int,
    role: Role,
    phone: str | None = None,
    username: str | None = None,
    source: str = "web",
) -> Enrolment:
    """`add_staff` for a supervisor or admin: the unit must be in their subtree (else
    `NotFound`) and the role one they may give (else `PermissionDenied`). With a
    ``username`` the newcomer gets a web login with a random initial password."""
    _require_manager(actor)
    unit = await Unit.get_or_none(id=unit_id)
    if unit is None:
        raise NotFound("not found")
    await scope.require_unit(actor, unit)
    _require_grant(actor, role)
    return await add_staff(
        keyring,
        full_name=full_name,
        unit=unit,
        role=role,
        phone=phone,
        username=username,
        initial_password=bool(username),
        created_by=actor,
        source=source,
    )


async def set_role(actor: Staff, staff_id: int, role: Role, *, source: str = "web") -> Staff:
    """Change a staff member's role, within what ``actor`` may give and what the unit allows."""
    target = await managed_staff(actor, staff_id)
    _require_grant(actor, role)
    if target.id == actor.id:
        raise ValidationError(_("you cannot change your own role"), field="role")
    if not target.active:
        raise ValidationError(_("this staff member is deactivated"), field="role")
    _check_role_unit(role, target.unit)
    if target.role is role:
        return target
    previous = target.role
    async with in_transaction():
        await Staff.filter(id=target.id).update(role=role)
        await audit.record(
            "staff.role_changed",
            actor=actor,
            object_type="staff",
            object_id=target.id,
            unit_id=target.unit.id,
            source=source,
            data={"from": previous.value, "to": role.value},
        )
    target.role = role
    return target


async def deactivate_staff(
    actor: Staff, staff_id: int, *, source: str = "web", now: datetime | None = None
) -> int:
    """Take a staff member off the roster: they can no longer sign in or act through the bot,
    and every web session of theirs ends now. How many sessions were open."""
    now = now or utcnow()
    target = await managed_staff(actor, staff_id)
    if target.id == actor.id:
        raise ValidationError(_("you cannot deactivate yourself"), field="staff")
    if not target.active:
        return 0
    async with in_transaction():
        await Staff.filter(id=target.id).update(active=False, deactivated_at=now)
        ended = await end_web_sessions(target.id, now)
        # Unused link codes of theirs stop working too.
        await LinkCode.filter(staff_id=target.id, used_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        await audit.record(
            "staff.deactivated",
            actor=actor,
            object_type="staff",
            object_id=target.id,
            unit_id=target.unit.id,
            source=source,
            data={"sessions_ended": ended},
        )
    return ended


async def reissue_link_code(
    keyring: Keyring, actor: Staff, staff_id: int, *, source: str = "web"
) -> tuple[Staff, str, datetime]:
    """A new one-time bot link code for a staff member (a lost code, a new phone); earlier
    unused codes of theirs stop working."""
    now = utcnow()
    target = await managed_staff(actor, staff_id)
    if not target.active:
        raise ValidationError(_("this staff member is deactivated"), field="staff")
    async with in_transaction():
        await LinkCode.filter(
            staff_id=target.id, purpose=LinkPurpose.STAFF, used_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        code, expires_at = await issue_link_code(keyring, target, created_by=actor, now=now)
        await audit.record(
            "staff.link_code_issued",
            actor=actor,
            object_type="staff",
            object_id=target.id,
            unit_id=target.unit.id,
            source=source,
        )
    return target, code, expires_at


# --- web logins and sessions, from the roster ------------------------------------------------


def _require_other_active(actor: Staff, target: Staff, field: str) -> None:
    if target.id == actor.id:
        raise ValidationError(
            _("Use your account page for your own password and logout."), field=field
        )
    if not target.active:
        raise ValidationError(_("This staff member is deactivated."), field=field)


async def _set_initial_password(
    actor: Staff,
    target: Staff,
    *,
    username: str,
    action: str,
    source: str,
    now: datetime,
) -> InitialPassword:
    """Store a fresh initial password for ``target`` (and ``username``), end every session of
    theirs, and audit ``action`` — never the password."""
    password = generate_password()
    password_hash = await asyncio.to_thread(hash_password, password)
    expires_at = now + INITIAL_PASSWORD_TTL
    async with in_transaction():
        try:
            await Staff.filter(id=target.id).update(
                username=username,
                password_hash=password_hash,
                password_must_change=True,
                password_expires_at=expires_at,
            )
        except IntegrityError as err:
            raise Conflict(_("This username is taken.")) from err
        ended = await end_web_sessions(target.id, now)
        await audit.record(
            action,
            actor=actor,
            object_type="staff",
            object_id=target.id,
            unit_id=target.unit.id,
            source=source,
            data={"sessions_ended": ended, "expires_at": expires_at.isoformat()},
        )
    target.username = username
    return InitialPassword(target, username, password, expires_at)


async def give_web_login(
    actor: Staff,
    staff_id: int,
    username: str,
    *,
    source: str = "web",
    now: datetime | None = None,
) -> InitialPassword:
    """Give a staff member who has no web login one: ``username`` and a random initial
    password, valid 72 hours if unused and to be changed at the first sign-in. The scope rule
    is `managed_staff`'s."""
    now = now or utcnow()
    target = await managed_staff(actor, staff_id)
    _require_other_active(actor, target, "username")
    if target.password_hash:
        raise ValidationError(
            _("This staff member already has a web login: reset its password instead."),
            field="username",
        )
    login = check_username(username)
    return await _set_initial_password(
        actor, target, username=login, action="staff.web_login_given", source=source, now=now
    )


async def reset_web_password(
    actor: Staff, staff_id: int, *, source: str = "web", now: datetime | None = None
) -> InitialPassword:
    """A forgotten or exposed password: a new random initial password replaces it (the same
    rules as a first one) and every web session of theirs ends now."""
    now = now or utcnow()
    target = await managed_staff(actor, staff_id)
    _require_other_active(actor, target, "staff")
    if not (target.username and target.password_hash):
        raise ValidationError(_("This staff member has no web login yet."), field="staff")
    return await _set_initial_password(
        actor,
        target,
        username=target.username,
        action="staff.password_reset",
        source=source,
        now=now,
    )


async def end_sessions(
    actor: Staff, staff_id: int, *, source: str = "web", now: datetime | None = None
) -> int:
    """End every web session of a staff member (a lost phone, a shared computer), with the
    scope rule of `deactivate_staff`; how many were open. Your own: that is logout."""
    now = now or utcnow()
    target = await managed_staff(actor, staff_id)
    if target.id == actor.id:
        raise ValidationError(
            _("Use your account page for your own password and logout."), field="staff"
        )
    async with in_transaction():
        ended = await end_web_sessions(target.id, now)
        await audit.record(
            "staff.sessions_ended",
            actor=actor,
            object_type="staff",
            object_id=target.id,
            unit_id=target.unit.id,
            source=source,
            data={"sessions": ended},
        )
    return ended
