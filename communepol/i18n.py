"""Translations and Vietnamese-first formatting, at the edge where a person's locale is known.

Marking and translating are separate steps:

* In code, a user-facing string is *marked* with ``_("…")`` (or ``N_("…")`` for module-level
  constants). Both are identity functions: the English msgid stays as it is until it reaches a
  person. ``communepol.catalogs`` extracts every marked string (and every literal passed as
  ``i18n.gettext(locale, "…")`` / ``i18n.ngettext(locale, "…", "…", n)``) into
  ``locales/messages.pot``.
* At the edge (a web request, a bot reply) the message is *translated* for that person with
  ``I18n.gettext(locale, msgid, **params)``: translate first, then ``str.format_map(params)``,
  so translators can move ``{placeholders}`` around.

Vietnamese (``vi``) is the default and the fallback for any locale we do not support; English
(``en``) falls back to the msgid. ``I18n.load()`` compiles the ``.po`` files in memory, so a
fresh checkout works without building ``.mo`` files.

Formatting (module functions, each taking a locale):

* ``format_datetime`` — ``vi``: ``14:30 22/11/2026`` (HH:mm dd/MM/yyyy);
  ``en``: ``22 Nov 2026, 14:30`` (d MMM yyyy, HH:mm). The datetime must be timezone-aware and is
  shown in the person's timezone, ``Asia/Ho_Chi_Minh`` unless told otherwise.
* ``format_date`` — ``vi``: ``22/11/2026``; ``en``: ``22 Nov 2026``.
* ``format_number`` — ``vi``: ``74.000``; ``en``: ``74,000``.
* ``format_relative`` — ``vi``: ``3 giờ trước``; ``en``: ``3 hours ago`` (``delta`` is
  *moment − now*: negative is the past). ``I18n.format_relative`` also says "just now" for
  less than a minute.

The ``*_LABELS`` tables give the name people see for each enum value stored in
``communepol.db.models`` (keyed by the value string, so a ``StrEnum`` member works as a key
too): ``i18n.gettext(locale, TIP_CATEGORY_LABELS[tip.category])``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from communepol.errors import CommunepolError

log = logging.getLogger(__name__)

SUPPORTED_LOCALES: tuple[str, ...] = ("vi", "en")
DEFAULT_LOCALE = "vi"
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DOMAIN = "messages"


def _(message: str) -> str:
    """Mark a user-facing string for extraction; returns it unchanged (translate at the edge)."""
    return message


def N_(message: str) -> str:
    """Mark a module-level constant for extraction; returns it unchanged."""
    return message


def locales_dir() -> Path:
    """The ``locales/`` directory: the repository's in a checkout or an editable install, else
    the copy a regular install puts under ``<prefix>/share/communepol/locales``."""
    checkout = Path(__file__).resolve().parent.parent / "locales"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "communepol" / "locales"


# --- the names people see everywhere (keys: enum values in communepol.db.models) -------------

POST_CATEGORY_LABELS: dict[str, str] = {
    "procedure": N_("Administrative procedure"),
    "crime_warning": N_("Crime warning"),
    "fraud_warning": N_("Fraud warning"),
    "missing_person": N_("Missing person"),
    "rumour_check": N_("Rumour check"),
    "health": N_("Health"),
    "legal": N_("Legal document"),
    "announcement": N_("Announcement"),
}

POST_STATUS_LABELS: dict[str, str] = {
    "draft": N_("Draft"),
    "pending_approval": N_("Pending approval"),
    "scheduled": N_("Scheduled"),
    "publishing": N_("Publishing"),
    "published": N_("Published"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
}

TIP_CATEGORY_LABELS: dict[str, str] = {
    "theft": N_("Theft or robbery"),
    "drugs": N_("Drugs"),
    "gambling": N_("Gambling"),
    "illegal_lending": N_("Illegal lending"),
    "fight_weapons": N_("Fight or weapons"),
    "fraud": N_("Fraud or online scam"),
    "missing_person": N_("Missing person"),
    "traffic": N_("Traffic"),
    "public_order": N_("Public order"),
    "procedure_question": N_("Question about a procedure"),
    "rumour_check": N_("Rumour check"),
    "other": N_("Other"),
}

TIP_URGENCY_LABELS: dict[str, str] = {
    "critical": N_("Critical"),
    "high": N_("High"),
    "normal": N_("Normal"),
    "low": N_("Low"),
}

TIP_STATUS_LABELS: dict[str, str] = {
    "new": N_("New"),
    "acknowledged": N_("Acknowledged"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved"),
    "rejected": N_("Rejected"),
    "duplicate": N_("Duplicate"),
}

ROLE_LABELS: dict[str, str] = {
    "officer": N_("Officer"),
    "supervisor": N_("Supervisor"),
    "admin": N_("Administrator"),
}

UNIT_LEVEL_LABELS: dict[str, str] = {
    "province": N_("Province"),
    "district": N_("District"),
    "commune": N_("Commune"),
    "hamlet": N_("Hamlet"),
}

_JUST_NOW = N_("just now")


# --- locales ---------------------------------------------------------------------------------

_TAG_SPLIT = re.compile(r"[-_.@]")


def normalize_locale(value: str | None, default: str = DEFAULT_LOCALE) -> str:
    """A supported locale for a tag such as ``vi-VN``, ``VI`` or ``en_US``; else ``default``."""
    if value:
        primary = _TAG_SPLIT.split(value.strip(), maxsplit=1)[0].lower()
        if primary in SUPPORTED_LOCALES:
            return primary
    return default


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The best supported locale for an ``Accept-Language`` header; ``default`` when none fits.

    Ranges are tried by descending ``q`` (ties keep header order); ``q=0`` excludes a range and
    ``*`` means the default.
    """
    if not accept_language:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _sep, rest = item.strip().partition(";")
        tag = tag.strip()
        if not tag:
            continue
        quality = 1.0
        for param in rest.split(";"):
            name, _eq, raw = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(raw.strip())
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, tag))
    for _q, _pos, tag in sorted(ranked):
        if tag == "*":
            return default
        locale = normalize_locale(tag, default="")
        if locale:
            return locale
    return default


# --- formatting ------------------------------------------------------------------------------

_DATETIME_PATTERNS = {"vi": "HH:mm dd/MM/yyyy", "en": "d MMM yyyy, HH:mm"}
_DATE_PATTERNS = {"vi": "dd/MM/yyyy", "en": "d MMM yyyy"}


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: pass a timezone-aware datetime")
    return dt


def format_datetime(dt: datetime, locale: str, tz: str | tzinfo = DEFAULT_TIMEZONE) -> str:
    """``14:30 22/11/2026`` (vi) or ``22 Nov 2026, 14:30`` (en), in timezone ``tz``.

    Raises ``ValueError`` for a naive datetime: we never guess what clock it was read from.
    """
    loc = normalize_locale(locale)
    local = _aware(dt).astimezone(_zone(tz))
    return babel_dates.format_datetime(local, _DATETIME_PATTERNS[loc], locale=loc)


def format_date(value: date | datetime, locale: str, tz: str | tzinfo = DEFAULT_TIMEZONE) -> str:
    """``22/11/2026`` (vi) or ``22 Nov 2026`` (en). A datetime (aware only) is first moved to
    ``tz``; a plain date is shown as it is."""
    loc = normalize_locale(locale)
    if isinstance(value, datetime):
        value = _aware(value).astimezone(_zone(tz)).date()
    return babel_dates.format_date(value, _DATE_PATTERNS[loc], locale=loc)


def format_number(n: float | int, locale: str) -> str:
    """``74.000`` / ``1.234,5`` (vi) or ``74,000`` / ``1,234.5`` (en)."""
    return babel_numbers.format_decimal(n, locale=normalize_locale(locale))


def format_relative(delta: timedelta, locale: str) -> str:
    """``3 giờ trước`` / ``3 hours ago`` for ``delta = moment − now`` (negative: the past;
    positive: ``sau 2 ngày nữa`` / ``in 2 days``)."""
    return babel_dates.format_timedelta(delta, add_direction=True, locale=normalize_locale(locale))


# --- translations ----------------------------------------------------------------------------


def _format(message: str, fallback: str, params: Mapping[str, Any]) -> str:
    """Format the translated ``message``; if a translator broke its placeholders, log it and
    format the msgid instead, so a bad translation never takes a page down."""
    try:
        return message.format_map(params)
    except (KeyError, IndexError, ValueError, AttributeError):
        if message == fallback:
            raise
        log.warning("translation %r has bad placeholders; using the msgid %r", message, fallback)
        return fallback.format_map(params)


def compile_po(po_path: Path, locale: str) -> Translations:
    """Read a ``.po`` file and compile it in memory (fuzzy entries are left out)."""
    with po_path.open("rb") as fp:
        catalog = read_po(fp, locale=locale, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


class I18n:
    """The loaded catalogs for every supported locale; build once with ``I18n.load()``."""

    def __init__(
        self,
        translations: Mapping[str, Translations],
        default_locale: str = DEFAULT_LOCALE,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        if default_locale not in SUPPORTED_LOCALES:
            raise ValueError(f"unsupported default locale {default_locale!r}")
        self.default_locale = default_locale
        self.timezone = timezone
        self._translations: dict[str, Translations] = {
            loc: translations.get(loc) or Translations() for loc in SUPPORTED_LOCALES
        }

    @classmethod
    def load(cls, directory: Path | None = None, default_locale: str = DEFAULT_LOCALE) -> I18n:
        """Compile ``<directory>/<locale>/LC_MESSAGES/messages.po`` for every supported locale
        (``directory`` defaults to ``locales_dir()``).

        Another locale's missing ``.po`` leaves it on the msgids (English); a missing default
        catalog or a malformed one raises, so the app never starts silently untranslated.
        """
        base = directory if directory is not None else locales_dir()
        loaded: dict[str, Translations] = {}
        for loc in SUPPORTED_LOCALES:
            po_path = base / loc / "LC_MESSAGES" / f"{DOMAIN}.po"
            if po_path.is_file():
                loaded[loc] = compile_po(po_path, loc)
            elif loc == default_locale:
                raise FileNotFoundError(f"no catalog for the default locale: {po_path}")
        return cls(loaded, default_locale=default_locale)

    def normalize_locale(self, value: str | None) -> str:
        """``vi-VN`` / ``VI`` → ``vi``, ``en_US`` → ``en``; unknown or empty → default locale."""
        return normalize_locale(value, self.default_locale)

    def negotiate(self, accept_language: str | None) -> str:
        """Pick ``vi`` or ``en`` from an ``Accept-Language`` header; default locale otherwise."""
        return negotiate(accept_language, self.default_locale)

    def translations(self, locale: str | None) -> Translations:
        """The catalog for ``locale``; an unknown locale gets the default locale's catalog."""
        return self._translations[self.normalize_locale(locale)]

    def gettext(self, locale: str | None, message: str, **params: Any) -> str:
        """Translate ``message`` for ``locale``, then ``format_map(params)`` if params given."""
        if not message:
            return message  # gettext("") would return the catalog header
        translated = self.translations(locale).gettext(message)
        return _format(translated, message, params) if params else translated

    def error_text(self, locale: str | None, err: CommunepolError) -> str:
        """A domain error's message in ``locale``: its msgid translated, then its values
        filled in (the English message where the catalog has no translation)."""
        return self.gettext(locale, err.template, **err.params)

    def ngettext(
        self, locale: str | None, singular: str, plural: str, n: int, **params: Any
    ) -> str:
        """Translate the plural form for ``n``, then format it; ``{n}`` is always available."""
        translated = self.translations(locale).ngettext(singular, plural, n)
        fallback = singular if n == 1 else plural
        return _format(translated, fallback, {"n": n, **params})

    def format_relative(self, delta: timedelta, locale: str | None) -> str:
        """Like ``format_relative`` but "vừa xong" / "just now" under a minute either way."""
        if abs(delta) < timedelta(minutes=1):
            return self.gettext(locale, _JUST_NOW)
        return format_relative(delta, self.normalize_locale(locale))

    def template_globals(
        self, locale: str | None, tz: str | tzinfo | None = None
    ) -> dict[str, Callable[..., Any]]:
        """Functions bound to ``locale`` (and ``tz``, default ``self.timezone``) for a Jinja2
        context: ``_``, ``gettext``, ``ngettext``, ``format_datetime``, ``format_date``,
        ``format_number``, ``format_relative``."""
        loc = self.normalize_locale(locale)
        zone = tz if tz is not None else self.timezone

        def gettext(message: str, **params: Any) -> str:
            return self.gettext(loc, message, **params)

        def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
            return self.ngettext(loc, singular, plural, n, **params)

        def fmt_datetime(dt: datetime) -> str:
            return format_datetime(dt, loc, zone)

        def fmt_date(value: date | datetime) -> str:
            return format_date(value, loc, zone)

        def fmt_number(n: float | int) -> str:
            return format_number(n, loc)

        def fmt_relative(delta: timedelta) -> str:
            return self.format_relative(delta, loc)

        return {
            "_": gettext,
            "gettext": gettext,
            "ngettext": ngettext,
            "format_datetime": fmt_datetime,
            "format_date": fmt_date,
            "format_number": fmt_number,
            "format_relative": fmt_relative,
        }
