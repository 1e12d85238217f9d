"""Administrative units: import the official list, find a unit by name, add hamlets.

Provinces and communes/wards/special zones come from the ``vietnam-provinces`` package (the
two-tier list in force since 1 July 2025: 34 provinces, 3,321 communes). `import_units` loads
them, all or one province, idempotently: units are matched on their official GSO code, new ones
are created and changed names or kinds are updated, in one transaction and a handful of queries.
Hamlets (thôn, buôn, tổ dân phố …) are not in any official list: staff add them under a commune
with `add_hamlet`; they have no code.

`search_units` is the accent-, case- and apostrophe-tolerant search used by the CLI, the web
pickers and the bots; `resolve_unit` turns one reference typed by a person (a code or a name)
into exactly one unit or a helpful error. `subtree_q` / `subtree_prefix` express "this unit and
everything under it" for scope checks.

Stored names follow one convention (see ``communepol.db.models.units``): ``name`` is the cleaned
full name with its kind word ("Xã Cư M'gar"), ``kind`` is that word ("Xã"), ``name_folded`` is
the folded name without it ("cu mgar"), and ``path`` lists the ancestors' ids ("/12/").
"""

from __future__ import annotations

import difflib
import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction
from vietnam_provinces import Province, Ward

from communepol.db.models.units import Unit, UnitLevel
from communepol.errors import Conflict, UnitNotFound, ValidationError
from communepol.i18n import _
from communepol.text import clean, fold

__all__ = [
    "UnitImportResult",
    "add_hamlet",
    "count_units",
    "import_units",
    "resolve_unit",
    "search_units",
    "subtree_prefix",
    "subtree_q",
]

NAME_MAX: Final = 200
KIND_MAX: Final = 32
QUERY_MAX: Final = 200
LIMIT_MAX: Final = 200
FUZZY_MIN: Final = 0.75
"""Lowest `difflib` ratio between folded names for a typo-tolerant match."""

_BATCH: Final = 500
_LEVEL_ORDER: Final = {
    UnitLevel.PROVINCE: 0,
    UnitLevel.DISTRICT: 1,
    UnitLevel.COMMUNE: 2,
    UnitLevel.HAMLET: 3,
}
# The package spells central cities "thành phố trung ương"; people write "Thành phố Hà Nội".
_PROVINCE_KINDS: Final = {
    "tỉnh": "Tỉnh",
    "thành phố": "Thành phố",
    "thành phố trung ương": "Thành phố",
}
# Kind words a person may put before a name, folded, with the kind they mean (folded).
_KIND_WORDS: Final = {
    "tinh": "tinh",
    "thanh pho": "thanh pho",
    "tp": "thanh pho",
    "xa": "xa",
    "phuong": "phuong",
    "dac khu": "dac khu",
    "huyen": "huyen",
    "quan": "quan",
    "thi xa": "thi xa",
    "tx": "thi xa",
    "thi tran": "thi tran",
    "tt": "thi tran",
    "thon": "thon",
    "buon": "buon",
    "to dan pho": "to dan pho",
    "tdp": "to dan pho",
    "khu pho": "khu pho",
    "kp": "khu pho",
    "ap": "ap",
    "ban": "ban",
    "lang": "lang",
    "xom": "xom",
    "khom": "khom",
    "soc": "soc",
    "plei": "plei",
    "to": "to",
    "khu": "khu",
}
# Longest first, so that "thanh pho" is tried before "tp" and "to dan pho" before "to".
_KIND_PREFIXES: Final = sorted(_KIND_WORDS, key=lambda word: (-word.count(" "), -len(word)))
_DIGITS = re.compile(r"[0-9]{1,5}")
_ROW_FIELDS: Final = ("id", "name", "kind", "level", "name_folded")
_SYNC_FIELDS: Final = ("level", "kind", "name", "name_folded", "parent_id", "path")


# ---------------------------------------------------------------------------------------------
# Subtrees


def subtree_prefix(unit: Unit) -> str:
    """The ``path`` prefix shared by every unit strictly below ``unit`` ("/12/345/")."""
    return f"{unit.path}{unit.id}/"


def subtree_q(unit: Unit) -> Q:
    """A filter for ``unit`` itself and every unit below it, at any depth.

    ``Unit.filter(subtree_q(commune))`` is the commune and its hamlets;
    ``Unit.filter(subtree_q(province))`` is the province, its communes and their hamlets.
    """
    return Q(id=unit.id) | Q(path__startswith=subtree_prefix(unit))


# ---------------------------------------------------------------------------------------------
# Names


def _capitalised(word: str) -> str:
    return word[:1].upper() + word[1:]


def _strip_kind(name: str, kind: str) -> str | None:
    """``name`` without its leading ``kind`` word(s) (compared folded), or None if it has none."""
    words = name.split(" ")
    count = len(kind.split(" "))
    if len(words) <= count:
        return None
    head = " ".join(words[:count])
    if head.lower() == kind.lower() or fold(head) == fold(kind):
        return " ".join(words[count:])
    return None


def _with_kind(name: str, kind: str) -> tuple[str, str]:
    """(full name with the kind word, name without it) for a cleaned ``name``."""
    rest = _strip_kind(name, kind)
    if rest is None:
        rest = name
    return f"{kind} {rest}", rest


def _search_key(folded: str) -> str:
    """Folded text as compared by the search: hyphens and dashes count as spaces."""
    return " ".join(folded.replace("-", " ").split())


# ---------------------------------------------------------------------------------------------
# Import


@dataclass(frozen=True, slots=True)
class UnitImportResult:
    """What `import_units` changed."""

    provinces_created: int = 0
    provinces_updated: int = 0
    communes_created: int = 0
    communes_updated: int = 0

    @property
    def changed(self) -> bool:
        """Whether the import wrote anything."""
        return any(
            (
                self.provinces_created,
                self.provinces_updated,
                self.communes_created,
                self.communes_updated,
            )
        )

    def __str__(self) -> str:
        return (
            f"provinces: {self.provinces_created} created, {self.provinces_updated} updated; "
            f"communes: {self.communes_created} created, {self.communes_updated} updated"
        )


@dataclass(frozen=True, slots=True)
class _Spec:
    """One unit as the official list describes it."""

    code: str
    level: UnitLevel
    kind: str
    name: str
    name_folded: str
    parent_code: str | None


def _spec(code: str, level: UnitLevel, kind: str, raw_name: str, parent: str | None) -> _Spec:
    name, rest = _with_kind(clean(raw_name), kind)
    return _Spec(code, level, kind, name, fold(rest), parent)


@functools.cache
def _province_specs() -> tuple[_Spec, ...]:
    specs = []
    for province in Province.iter_all():
        division = clean(province.division_type.value).lower()
        kind = _PROVINCE_KINDS.get(division, _capitalised(division))
        code = f"{int(province.code):02d}"
        specs.append(_spec(code, UnitLevel.PROVINCE, kind, province.name, None))
    return tuple(specs)


@functools.cache
def _commune_specs() -> tuple[_Spec, ...]:
    specs = []
    for ward in Ward.iter_all():
        kind = _capitalised(clean(ward.division_type.value).lower())
        code = f"{int(ward.code):05d}"
        parent = f"{int(ward.province_code):02d}"
        specs.append(_spec(code, UnitLevel.COMMUNE, kind, ward.name, parent))
    return tuple(specs)


def _pick_province(ref: str, provinces: Sequence[_Spec]) -> _Spec:
    """The province ``ref`` names: a code ("66") or a name in any accent or case form."""
    text = clean(ref)
    if _DIGITS.fullmatch(text):
        code = f"{int(text):02d}"
        for spec in provinces:
            if spec.code == code:
                return spec
        raise UnitNotFound(_("no province has code {code!r}"), code=text)
    wanted = {variant.key for variant in _variants(text)}
    for spec in provinces:
        if spec.name_folded in wanted:
            return spec
    names = {spec.name_folded: spec.name for spec in provinces}
    close = difflib.get_close_matches(_search_key(fold(text)), names, n=3, cutoff=0.6)
    if close:
        raise UnitNotFound(
            _("no province matches {ref!r}; did you mean {names}?"),
            ref=ref,
            names=", ".join(names[key] for key in close),
        )
    raise UnitNotFound(_("no province matches {ref!r}"), ref=ref)


async def import_units(province: str | None = None) -> UnitImportResult:
    """Load the official provinces and communes, or one province (by name or code) and its
    communes, creating missing units and updating changed ones; returns what changed.

    Units are matched on ``code``; a re-run creates nothing and updates only units whose name,
    kind, level or parent changed in the list. Units missing from the list are left alone.
    Everything happens in one transaction. An unknown ``province`` raises `UnitNotFound` before
    anything is written.
    """
    provinces = _province_specs()
    if province is not None:
        provinces = (_pick_province(province, provinces),)
    wanted = {spec.code for spec in provinces}
    communes = [spec for spec in _commune_specs() if spec.parent_code in wanted]
    try:
        async with in_transaction() as conn:
            existing = await _existing_by_code(conn)
            p_created, p_updated = await _sync(conn, provinces, existing, parents={})
            rows = await (
                Unit.filter(code__in=sorted(wanted))
                .using_db(conn)
                .values_list("code", "id", "path")
            )
            parents = {code: (unit_id, f"{path}{unit_id}/") for code, unit_id, path in rows}
            c_created, c_updated = await _sync(conn, communes, existing, parents=parents)
    except IntegrityError as err:
        raise Conflict(_("the units changed during the import; run it again")) from err
    return UnitImportResult(p_created, p_updated, c_created, c_updated)


async def _existing_by_code(conn: BaseDBAsyncClient) -> dict[str, tuple[Any, ...]]:
    """Every coded unit as (id, level, kind, name, name_folded, parent_id, path), by code."""
    rows = await (
        Unit.filter(code__isnull=False).using_db(conn).values_list("code", "id", *_SYNC_FIELDS)
    )
    return {row[0]: tuple(row[1:]) for row in rows}


async def _sync(
    conn: BaseDBAsyncClient,
    specs: Iterable[_Spec],
    existing: dict[str, tuple[Any, ...]],
    *,
    parents: dict[str, tuple[int, str]],
) -> tuple[int, int]:
    """Create and update ``specs``; ``parents`` maps a parent's code to its id and subtree
    prefix. Returns (created, updated)."""
    create: list[Unit] = []
    update: list[Unit] = []
    moved: list[tuple[str, str]] = []
    for spec in specs:
        parent_id, prefix = parents[spec.parent_code] if spec.parent_code else (None, "/")
        wanted = (spec.level, spec.kind, spec.name, spec.name_folded, parent_id, prefix)
        values = dict(zip(_SYNC_FIELDS, wanted, strict=True))
        row = existing.get(spec.code)
        if row is None:
            create.append(Unit(code=spec.code, **values))
            continue
        unit_id, *current = row
        current[0] = UnitLevel(current[0])
        if tuple(current) == wanted:
            continue
        update.append(Unit(id=unit_id, code=spec.code, **values))
        old_path = current[-1]
        if old_path != prefix:
            moved.append((f"{old_path}{unit_id}/", f"{prefix}{unit_id}/"))
    if create:
        await Unit.bulk_create(create, batch_size=_BATCH, using_db=conn)
    if update:
        await Unit.bulk_update(update, fields=_SYNC_FIELDS, batch_size=_BATCH, using_db=conn)
    for old, new in moved:
        await _move_descendants(conn, old, new)
    return len(create), len(update)


async def _move_descendants(conn: BaseDBAsyncClient, old: str, new: str) -> None:
    """Rewrite the paths below a unit whose own path changed (a commune moved province)."""
    rows = await Unit.filter(path__startswith=old).using_db(conn).values_list("id", "path")
    if rows:
        moved = [Unit(id=unit_id, path=new + path[len(old) :]) for unit_id, path in rows]
        await Unit.bulk_update(moved, fields=("path",), batch_size=_BATCH, using_db=conn)


async def count_units(level: UnitLevel) -> int:
    """How many units of ``level`` exist (active or not)."""
    return await Unit.filter(level=level).count()


# ---------------------------------------------------------------------------------------------
# Search


@dataclass(frozen=True, slots=True)
class _Variant:
    """One reading of the query: the whole text, or the text after a leading kind word."""

    key: str
    kind: str | None
    accented: str | None


@dataclass(frozen=True, slots=True, order=True)
class _Ranked:
    """A candidate's rank; smaller is better. ``tie`` is what makes two candidates equally good."""

    tie: tuple[int, float, int, int]
    order: tuple[int, int, str]
    id: int


def _variants(query: str) -> list[_Variant]:
    """The readings of a search text; raises `ValidationError` when nothing searchable is left."""
    text = clean(query)
    key = _search_key(fold(text))
    if not key:
        raise ValidationError(_("type part of a unit name to search for"), field="query")
    if len(key) > QUERY_MAX:
        raise ValidationError(
            _("a unit name has at most {limit} characters"), field="query", limit=QUERY_MAX
        )
    accented_words = text.lower().split(" ")
    words = key.split(" ")
    variants = [_Variant(key, None, text.lower())]
    for prefix in _KIND_PREFIXES:
        count = prefix.count(" ") + 1
        if len(words) > count and " ".join(words[:count]) == prefix:
            aligned = len(accented_words) == len(words)
            accented = " ".join(accented_words[count:]) if aligned else None
            variants.append(_Variant(" ".join(words[count:]), _KIND_WORDS[prefix], accented))
            break
    return variants


def _letters(text: str) -> frozenset[tuple[str, int]]:
    """The multiset of ``text``'s letters as a set ("aab" → {a1, a2, b1}), so that the size of
    an intersection (computed in C) is the number of letters two texts have in common."""
    seen: Counter[str] = Counter()
    letters = []
    for letter in text:
        seen[letter] += 1
        letters.append((letter, seen[letter]))
    return frozenset(letters)


@functools.lru_cache(maxsize=1 << 17)
def _profile(name_folded: str) -> tuple[str, frozenset[tuple[str, int]]]:
    """A stored folded name's search key and letters (cached: names rarely change)."""
    key = _search_key(name_folded)
    return key, _letters(key)


class _Ranker:
    """Ranks units against a query: exact, prefix, contains, then typo-tolerant.

    `scores` looks at the folded name alone, so that scanning every name for typos needs only
    (id, name_folded) rows; `rank` adds the tie-breaks that need the unit's name, kind, level.
    """

    def __init__(self, variants: Sequence[_Variant]) -> None:
        self.variants = variants
        self.plan = []
        for index, variant in enumerate(variants):
            matcher = difflib.SequenceMatcher(None, autojunk=False)
            matcher.set_seq2(variant.key)  # SequenceMatcher caches its analysis of seq2
            self.plan.append((index, variant.key, _letters(variant.key), matcher))

    def scores(self, name_folded: str) -> list[tuple[int, float, int]]:
        """(tier, closeness, variant index) for each reading of the query that matches."""
        key, letters = _profile(name_folded)
        found = []
        for index, query, query_letters, matcher in self.plan:
            if key == query:
                found.append((0, 0.0, index))
            elif key.startswith(query):
                found.append((1, 0.0 if key[len(query)] == " " else 1.0, index))
            elif (at := key.find(query)) >= 0:
                found.append((2, 0.0 if key[at - 1] == " " else 1.0, index))
            else:
                # Letters in common, in any order: a cheap upper bound of difflib's ratio.
                quick = 2 * len(letters & query_letters) / (len(key) + len(query))
                if quick < FUZZY_MIN:
                    continue
                matcher.set_seq1(key)
                ratio = matcher.ratio()
                if ratio >= FUZZY_MIN:
                    # Averaging with the letters ratio ranks transpositions higher: "ea kra"
                    # is closer to "ea kar" than to "ea kao".
                    found.append((3, -round((ratio + quick) / 2, 3), index))
        return found

    def rank(self, row: Sequence[Any], scores: Iterable[tuple[int, float, int]]) -> _Ranked:
        """The rank of a (id, name, kind, level, name_folded) row that `scores` matched."""
        unit_id, name, kind, level, name_folded = row
        folded_kind = fold(kind)
        lowered = name.lower()
        accented = {lowered, _strip_kind(lowered, kind.lower()) or lowered}
        best = min(
            (
                tier,
                closeness,
                int(self.variants[index].kind not in (None, folded_kind)),
                int(self.variants[index].accented not in accented),
            )
            for tier, closeness, index in scores
        )
        order = (_LEVEL_ORDER.get(UnitLevel(level), 9), len(name_folded), name)
        return _Ranked(best, order, unit_id)


def _scope(level: UnitLevel | None, within: Unit | None) -> QuerySet[Unit]:
    query = Unit.filter(active=True)
    if level is not None:
        query = query.filter(level=level)
    if within is not None:
        query = query.filter(subtree_q(within))
    return query


async def _ranked(
    variants: Sequence[_Variant], *, level: UnitLevel | None, within: Unit | None, want: int
) -> list[_Ranked]:
    """Every matching active unit, best first.

    The database finds the names containing the query; only when they are fewer than ``want``
    are all folded names in scope scanned (exact matches modulo hyphens, and typos), and the
    details fetched for the few that match.
    """
    ranker = _Ranker(variants)
    contains = Q(*(Q(name_folded__contains=variant.key) for variant in variants), join_type="OR")
    rows = list(await _scope(level, within).filter(contains).values_list(*_ROW_FIELDS))
    hits = {row[0]: found for row in rows if (found := ranker.scores(row[4]))}
    if len(hits) < want:
        names = await _scope(level, within).values_list("id", "name_folded")
        hits = {unit_id: found for unit_id, folded in names if (found := ranker.scores(folded))}
        known = {row[0] for row in rows}
        missing = [unit_id for unit_id in hits if unit_id not in known]
        for start in range(0, len(missing), _BATCH):
            batch = missing[start : start + _BATCH]
            rows.extend(await Unit.filter(id__in=batch).values_list(*_ROW_FIELDS))
    return sorted(ranker.rank(row, hits[row[0]]) for row in rows if row[0] in hits)


async def _units(ids: Sequence[int]) -> list[Unit]:
    by_id = {unit.id: unit for unit in await Unit.filter(id__in=list(ids))}
    return [by_id[unit_id] for unit_id in ids if unit_id in by_id]


async def search_units(
    query: str,
    *,
    level: UnitLevel | None = None,
    within: Unit | None = None,
    limit: int = 10,
) -> list[Unit]:
    """Active units whose name matches ``query``, best first, at most ``limit``.

    The query is compared folded (case, diacritics and apostrophes ignored: "m'drak", "mdrak"
    and "M’Drắk" are one name), with or without a leading kind word ("xã", "phường", "tỉnh",
    "thôn" …). Exact names rank first, then names starting with the query, then names
    containing it, then names within a typo or two (``FUZZY_MIN``). Among equals, a matching
    kind word and matching diacritics come first, then larger units, then shorter names.
    ``level`` keeps one level; ``within`` keeps that unit and the units under it.
    A blank query raises `ValidationError`.
    """
    if not 1 <= limit <= LIMIT_MAX:
        raise ValidationError(
            _("limit must be between 1 and {limit}"), field="limit", limit=LIMIT_MAX
        )
    ranked = await _ranked(_variants(query), level=level, within=within, want=limit)
    return await _units([rank.id for rank in ranked[:limit]])


def match_units(query: str, units: Sequence[Unit]) -> list[Unit]:
    """The ``units`` whose name matches ``query``, best first, ranked as `search_units` ranks
    (folded, kind word optional, a typo or two tolerated) — for choosing among a few known
    units, such as the communes whose pages a bot carries. A blank query raises
    `ValidationError`."""
    ranker = _Ranker(_variants(query))
    ranked = []
    for unit in units:
        found = ranker.scores(unit.name_folded)
        if found:
            row = (unit.id, unit.name, unit.kind, unit.level, unit.name_folded)
            ranked.append(ranker.rank(row, found))
    by_id = {unit.id: unit for unit in units}
    return [by_id[rank.id] for rank in sorted(ranked)]


async def resolve_unit(ref: str, *, level: UnitLevel | None = None) -> Unit:
    """The one unit ``ref`` designates: an exact code ("66", "24280"; zero-padding optional;
    inactive units included) first, else the single best match among active units, as ranked
    by `search_units` (so a unique close spelling is accepted: callers should echo the unit).

    Raises `UnitNotFound` when nothing matches and `ValidationError` listing up to five
    candidates (with codes and provinces) when several match equally well.
    """
    text = clean(ref)
    if not text:
        raise ValidationError(_("give a unit code or name"), field="unit")
    if _DIGITS.fullmatch(text):
        unit = await _by_code(text, level)
        if unit is not None:
            return unit
    ranked = await _ranked(_variants(text), level=level, within=None, want=1)
    if not ranked:
        raise UnitNotFound(_("no unit matches {ref!r}"), ref=ref)
    best = [rank for rank in ranked if rank.tie == ranked[0].tie]
    units = await _units([rank.id for rank in best[:5]])
    if len(best) == 1:
        return units[0]
    listed = "; ".join(await _describe(units))
    if len(best) > len(units):
        raise ValidationError(
            _(
                "{ref!r} matches {count} units: {units} and {more} more. "
                "Give the code or a fuller name."
            ),
            field="unit",
            ref=ref,
            count=len(best),
            units=listed,
            more=len(best) - len(units),
        )
    raise ValidationError(
        _("{ref!r} matches {count} units: {units}. Give the code or a fuller name."),
        field="unit",
        ref=ref,
        count=len(best),
        units=listed,
    )


async def _by_code(text: str, level: UnitLevel | None) -> Unit | None:
    number = int(text)
    codes = list(dict.fromkeys((text, f"{number:02d}", f"{number:05d}")))
    query = Unit.filter(code__in=codes)
    if level is not None:
        query = query.filter(level=level)
    found = {unit.code: unit for unit in await query}
    return next((found[code] for code in codes if code in found), None)


async def _describe(units: Sequence[Unit]) -> list[str]:
    """Each unit as "Xã Tân Thành (25534, Tỉnh Tây Ninh)"; a hamlet names its commune too."""
    wanted: set[int] = set()
    for unit in units:
        wanted.update(int(part) for part in unit.path.strip("/").split("/") if part)
    names = (
        dict(await Unit.filter(id__in=sorted(wanted)).values_list("id", "name")) if wanted else {}
    )
    described = []
    for unit in units:
        ancestors = [names.get(int(part), "?") for part in unit.path.strip("/").split("/") if part]
        details = ([unit.code] if unit.code else []) + ancestors[::-1]
        described.append(f"{unit.name} ({', '.join(details)})" if details else unit.name)
    return described


# ---------------------------------------------------------------------------------------------
# Hamlets


async def add_hamlet(commune: Unit, name: str, kind: str = "Thôn") -> Unit:
    """Add a hamlet (thôn, buôn, tổ dân phố …) under ``commune`` and return it.

    ``name`` may include the kind word or not ("Ea Sinh" or "Buôn Ea Sinh" with kind "Buôn");
    the stored name always has it once. Raises `ValidationError` unless ``commune`` is a
    commune-level unit and the name is non-empty and at most 200 characters, and `Conflict`
    when the commune already has a hamlet of the same kind and folded name.
    """
    if commune.level != UnitLevel.COMMUNE:
        raise ValidationError(
            _("hamlets are added under a commune or ward, not under {unit}"),
            field="commune",
            unit=commune.name,
        )
    kind_text = _capitalised(clean(kind))
    if not fold(kind_text):
        raise ValidationError(_("the hamlet kind is empty"), field="kind")
    if len(kind_text) > KIND_MAX:
        raise ValidationError(
            _("a hamlet kind has at most {limit} characters"), field="kind", limit=KIND_MAX
        )
    text = clean(name)
    if fold(text) in ("", fold(kind_text)):
        raise ValidationError(_("the hamlet name is empty"), field="name")
    full, rest = _with_kind(text, kind_text)
    if len(full) > NAME_MAX:
        raise ValidationError(
            _("a unit name has at most {limit} characters"), field="name", limit=NAME_MAX
        )
    folded = fold(rest)
    async with in_transaction() as conn:
        # Locking the commune row serialises concurrent additions to one commune (PostgreSQL).
        parent = await Unit.filter(id=commune.id).select_for_update().using_db(conn).first()
        if parent is None or parent.level != UnitLevel.COMMUNE:
            raise ValidationError(_("that commune no longer exists"), field="commune")
        siblings = await (
            Unit.filter(parent_id=parent.id, level=UnitLevel.HAMLET, name_folded=folded)
            .using_db(conn)
            .values_list("kind", "name")
        )
        for sibling_kind, sibling_name in siblings:
            if fold(sibling_kind) == fold(kind_text):
                raise Conflict(
                    _("{commune} already has {hamlet}"), commune=parent.name, hamlet=sibling_name
                )
        return await Unit.create(
            using_db=conn,
            level=UnitLevel.HAMLET,
            kind=kind_text,
            name=full,
            name_folded=folded,
            parent_id=parent.id,
            path=subtree_prefix(parent),
        )
