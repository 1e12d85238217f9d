"""Households of a commune's hamlets, registered one by one (`add_household`) or imported from
a CSV file (`import_households`; `import_for` when a staff member does it, in their scope).

The import reads a spreadsheet the station already keeps: one household per row, with a
header naming the columns in Vietnamese or English —

    thon / hamlet · chu_ho / head · so_nguoi / members · dia_chi / address ·
    so_dien_thoai / phone (optional)

(spacing, case and diacritics in the header do not matter: "Chủ hộ", "CHU HO" and "chu_ho"
are one column). Every row is checked before anything is written: the hamlet must be one of
the commune's (or, with ``create_hamlets``, is added), the head's name present, members a
whole number from 1 to 50, the phone a Vietnamese number, and the household not already
registered (same hamlet, head and address) nor repeated in the file. The good rows are then
written in one transaction — all of them or, if the database fails, none — and each bad row is
reported with its line number and reason. A file that is not a CSV with those columns is
refused whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from communepol.db import raw
from communepol.db.models import Household, Staff, Unit, UnitLevel
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import _
from communepol.services import audit, scope
from communepol.services.staff import normalize_phone
from communepol.services.units import add_hamlet
from communepol.text import clean, fold

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000
MAX_MEMBERS = 50

# Folded header → column.
COLUMNS = {
    "thon": "hamlet",
    "hamlet": "hamlet",
    "ban": "hamlet",
    "buon": "hamlet",
    "chu ho": "head",
    "head": "head",
    "head of household": "head",
    "so nguoi": "members",
    "so nhan khau": "members",
    "members": "members",
    "dia chi": "address",
    "address": "address",
    "so dien thoai": "phone",
    "dien thoai": "phone",
    "phone": "phone",
}
REQUIRED = ("hamlet", "head", "members")


@dataclass(frozen=True)
class BadRow:
    """A refused row: why, as a msgid (``template``, marked with ``_()``) and its values, so a
    page or a bot shows it in the reader's language; ``reason`` is the English."""

    line: int  # the line number in the file, header being line 1
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.template.format_map(self.params) if self.params else self.template


@dataclass
class ImportResult:
    added: int = 0
    hamlets_added: list[str] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    line: int
    hamlet: str
    head: str
    members: int
    address: str
    phone: str | None


def _header(names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(names):
        column = COLUMNS.get(fold(name.replace("_", " ")))
        if column is not None and column not in found:
            found[column] = index
    missing = [column for column in REQUIRED if column not in found]
    if missing:
        raise ValidationError(
            _(
                "the file needs the columns thon (hamlet), chu_ho (head) and so_nguoi "
                "(members); missing: {missing}"
            ),
            field="file",
            missing=", ".join(missing),
        )
    return found


def _rows(data: bytes) -> tuple[list[_Row], list[BadRow]]:
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError(_("the file is larger than 2 MB"), field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValidationError(
            _("the file is not UTF-8 text (save it as CSV UTF-8)"), field="file"
        ) from err
    try:
        # newline="": the csv module reads the file's own line ends (a bare \r included).
        lines = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as err:
        raise ValidationError(
            _("the file is not a readable CSV file: {problem}"), field="file", problem=str(err)
        ) from err
    if not lines:
        raise ValidationError(_("the file is empty"), field="file")
    if len(lines) > MAX_ROWS + 1:
        raise ValidationError(
            _("at most {limit:,} households in one file"), field="file", limit=MAX_ROWS
        )
    columns = _header(lines[0])
    rows: list[_Row] = []
    bad: list[BadRow] = []
    for line, values in enumerate(lines[1:], start=2):
        if not any(value.strip() for value in values):
            continue  # a blank line

        def cell(name: str, values: list[str] = values) -> str:
            index = columns.get(name)
            return clean(values[index]) if index is not None and index < len(values) else ""

        hamlet, head, members_text = cell("hamlet"), cell("head"), cell("members")
        if not hamlet:
            bad.append(BadRow(line, _("the hamlet is empty")))
            continue
        if not head:
            bad.append(BadRow(line, _("the head of household is empty")))
            continue
        if len(head) > 200 or len(cell("address")) > 300:
            bad.append(BadRow(line, _("a name or address is too long")))
            continue
        if not members_text.isdigit() or not 1 <= int(members_text) <= MAX_MEMBERS:
            bad.append(
                BadRow(
                    line,
                    _("members must be a whole number from 1 to {limit}"),
                    {"limit": MAX_MEMBERS},
                )
            )
            continue
        phone: str | None = None
        if cell("phone"):
            try:
                phone = normalize_phone(cell("phone"))
            except ValidationError:
                bad.append(
                    BadRow(
                        line,
                        _("{phone!r} is not a Vietnamese phone number"),
                        {"phone": cell("phone")},
                    )
                )
                continue
        rows.append(_Row(line, hamlet, head, int(members_text), cell("address"), phone))
    return rows, bad


async def _unit_in_scope(staff: Staff | None, unit_id: int, level: UnitLevel) -> Unit:
    """The unit ``unit_id`` if ``staff`` may see it (``None``: the server's operator, who sees
    everything) and it is of ``level``; `NotFound` otherwise (existence does not leak)."""
    unit = await Unit.get_or_none(id=unit_id)
    if unit is None:
        raise NotFound("not found")
    if staff is not None:
        await scope.require_unit(staff, unit)
    if unit.level is not level:
        if level is UnitLevel.COMMUNE:
            raise ValidationError(_("choose a commune or ward"), field="commune")
        raise ValidationError(_("choose a hamlet (thôn, buôn, tổ dân phố)"), field="hamlet")
    return unit


async def commune_in_scope(staff: Staff | None, commune_id: int) -> Unit:
    return await _unit_in_scope(staff, commune_id, UnitLevel.COMMUNE)


async def hamlet_in_scope(staff: Staff | None, hamlet_id: int) -> Unit:
    return await _unit_in_scope(staff, hamlet_id, UnitLevel.HAMLET)


async def hamlet_named(commune: Unit, name: str) -> Unit:
    """The hamlet of ``commune`` called ``name`` ("ea sinh", "Buôn Ea Sinh")."""
    wanted = fold(_strip_kind_word(clean(name)))
    hamlets = await Unit.filter(parent_id=commune.id, level=UnitLevel.HAMLET).order_by("name")
    for hamlet in hamlets:
        if fold(_bare(hamlet)) == wanted:
            return hamlet
    if not hamlets:
        raise ValidationError(
            _("{commune} has no hamlet called {name!r} (its hamlets: none yet)"),
            field="hamlet",
            commune=commune.name,
            name=name,
        )
    raise ValidationError(
        _("{commune} has no hamlet called {name!r} (its hamlets: {hamlets})"),
        field="hamlet",
        commune=commune.name,
        name=name,
        hamlets=", ".join(hamlet.name for hamlet in hamlets),
    )


async def hamlets_in(staff: Staff | None, commune_id: int) -> list[Unit]:
    """The hamlets of a commune in ``staff``'s scope, by name."""
    commune = await commune_in_scope(staff, commune_id)
    return list(await Unit.filter(parent_id=commune.id, level=UnitLevel.HAMLET).order_by("name"))


async def list_households(
    staff: Staff | None, commune_id: int, *, hamlet_id: int | None = None
) -> list[Household]:
    """The households of a commune in ``staff``'s scope (of one of its hamlets), by hamlet,
    each with its ``hamlet`` loaded."""
    commune = await commune_in_scope(staff, commune_id)
    query = Household.filter(hamlet__parent_id=commune.id)
    if hamlet_id is not None:
        query = query.filter(hamlet_id=hamlet_id)
    return await query.select_related("hamlet").order_by("hamlet__name", "head_name", "id")


async def add_household(
    staff: Staff | None,
    hamlet_id: int,
    *,
    head_name: str,
    members_count: int,
    address: str = "",
    phone: str | None = None,
    source: str = "web",
) -> Household:
    """Register one household in a hamlet of ``staff``'s scope. The same checks as a CSV
    row: a head's name, 1–50 members, a Vietnamese phone, not already registered."""
    hamlet = await hamlet_in_scope(staff, hamlet_id)
    head = clean(head_name)
    place = clean(address)
    if not head:
        raise ValidationError(_("the head of household is empty"), field="head_name")
    if len(head) > 200:
        raise ValidationError(_("the name is too long (at most 200 characters)"), field="head_name")
    if len(place) > 300:
        raise ValidationError(
            _("the address is too long (at most 300 characters)"), field="address"
        )
    if isinstance(members_count, bool) or not 1 <= members_count <= MAX_MEMBERS:
        raise ValidationError(
            _("members must be a whole number from 1 to {limit}"),
            field="members_count",
            limit=MAX_MEMBERS,
        )
    number = normalize_phone(phone) if phone and phone.strip() else None
    for other_head, other_address in await Household.filter(hamlet_id=hamlet.id).values_list(
        "head_name", "address"
    ):
        if (fold(str(other_head)), fold(str(other_address))) == (fold(head), fold(place)):
            raise Conflict(_("this household is already registered"))
    household = await Household.create(
        hamlet=hamlet,
        head_name=head,
        members_count=members_count,
        address=place,
        phone=number,
        created_by=staff,
    )
    await audit.record(
        "household.added",
        actor=staff,
        actor_label="cli" if staff is None else None,
        object_type="household",
        object_id=household.id,
        unit_id=hamlet.id,
        source=source,
    )
    return household


async def import_for(
    staff: Staff,
    commune_id: int,
    data: bytes,
    *,
    create_hamlets: bool = False,
    source: str = "web",
) -> ImportResult:
    """`import_households` by a staff member, into a commune of their scope."""
    commune = await commune_in_scope(staff, commune_id)
    return await import_households(
        commune, data, create_hamlets=create_hamlets, actor=staff, source=source
    )


async def import_households(
    commune: Unit,
    data: bytes,
    *,
    create_hamlets: bool = False,
    actor_label: str = "cli",
    actor: Staff | None = None,
    source: str = "cli",
) -> ImportResult:
    """Import the households of ``data`` (a CSV file's bytes) into ``commune``'s hamlets."""
    if commune.level is not UnitLevel.COMMUNE:
        raise ValidationError(_("households are imported into a commune or ward"), field="commune")
    rows, bad = _rows(data)
    result = ImportResult(bad=bad)
    hamlets = {
        fold(_bare(unit)): unit
        for unit in await Unit.filter(parent_id=commune.id, level=UnitLevel.HAMLET)
    }
    existing = {
        (int(hamlet_id), fold(head), fold(address))
        for hamlet_id, head, address in await Household.filter(
            hamlet__parent_id=commune.id
        ).values_list("hamlet_id", "head_name", "address")
    }
    async with in_transaction(raw.connection(Household).connection_name):
        for row in rows:
            hamlet = hamlets.get(fold(_strip_kind_word(row.hamlet)))
            if hamlet is None and create_hamlets:
                hamlet = await add_hamlet(commune, row.hamlet, kind=_kind_word(row.hamlet))
                hamlets[fold(_bare(hamlet))] = hamlet
                result.hamlets_added.append(hamlet.name)
            if hamlet is None:
                result.bad.append(
                    BadRow(
                        row.line,
                        _("{commune} has no hamlet called {name!r}"),
                        {"commune": commune.name, "name": row.hamlet},
                    )
                )
                continue
            identity = (hamlet.id, fold(row.head), fold(row.address))
            if identity in existing:
                result.bad.append(BadRow(row.line, _("this household is already registered")))
                continue
            existing.add(identity)
            await Household.create(
                hamlet=hamlet,
                head_name=row.head,
                members_count=row.members,
                address=row.address,
                phone=row.phone,
                created_by=actor,
            )
            result.added += 1
        await audit.record(
            "households.imported",
            actor=actor,
            actor_label=actor_label,
            object_type="unit",
            object_id=commune.id,
            unit_id=commune.id,
            source=source,
            data={"added": result.added, "refused": len(result.bad)},
        )
    result.bad.sort(key=lambda item: item.line)
    return result


KIND_WORDS = ("Thôn", "Buôn", "Bản", "Làng", "Ấp", "Tổ dân phố", "Tổ")


def _kind_word(name: str) -> str:
    for kind in KIND_WORDS:
        if fold(name).startswith(fold(kind) + " "):
            return kind
    return "Thôn"


def _strip_kind_word(name: str) -> str:
    for kind in KIND_WORDS:
        if fold(name).startswith(fold(kind) + " "):
            return name[len(kind) :].strip()
    return name


def _bare(hamlet: Unit) -> str:
    """A hamlet's name without its kind word ("Buôn Ea Sinh" → "Ea Sinh")."""
    return _strip_kind_word(hamlet.name)
