"""What the parts of the officer conversation share: who the sender is (linked, active staff
or nobody), the services a turn carries, reading a date and time as an officer types it, and
how moments and lists read.

Every officer handler is wrapped by `for_staff`: for anyone who is not linked, active staff the
command does not exist — they get the resident's "not understood", word for word — and an
object outside the officer's scope is "not found", the same as one that does not exist.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bots.conversation import BotServices, Handler, Turn
from bots.resident.common import not_understood
from communepol.clock import utcnow
from communepol.db.models import Staff
from communepol.errors import NotFound
from communepol.i18n import format_datetime
from communepol.ports import Button
from communepol.services import officers
from communepol.text import as_id

StaffHandler = Callable[[Turn, Staff], Awaitable[None]]

FLOW_PREFIX = "officer."  # every officer flow's name starts so
MAX_BUTTONS = 8  # choices offered in one message (pages, alerts)

# "25/12/2026", "25-12-2026", "25.12.2026"; "07:30", "7h30", "7h", "7g30".
_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_TIME = re.compile(r"(\d{1,2})[:hg](\d{2})?")
_FILLERS = frozenset(("lúc", "luc", "at", "ngày", "ngay", "on", "-"))


def for_staff(handler: StaffHandler) -> Handler:
    """``handler`` runs only for linked, active staff, who are handed to it. Anyone else hears
    the resident's "not understood" (an officer flow of an identity unlinked meanwhile ends)."""

    @functools.wraps(handler)
    async def run(turn: Turn) -> None:
        staff = await officers.staff_for_contact(turn.contact) if turn.services else None
        if staff is None:
            if turn.flow.startswith(FLOW_PREFIX):
                turn.end()
            await not_understood(turn)
            return
        try:
            await handler(turn, staff)
        except NotFound:
            turn.say(turn.gettext("Not found, or not in your area. Check the number."))

    return run


def services(turn: Turn) -> BotServices:
    """The turn's services; `for_staff` has made sure they are there."""
    if turn.services is None:  # pragma: no cover - for_staff answers before this
        raise RuntimeError("officer conversations need BotServices")
    return turn.services


def cancel_row(turn: Turn, action: str) -> list[Button]:
    return [Button(turn.gettext("Cancel"), action)]


def confirm_buttons(turn: Turn, prefix: str) -> list[list[Button]]:
    """Confirm and Cancel, as ``<prefix>:confirm`` and ``<prefix>:cancel``."""
    return [
        [
            Button(turn.gettext("Confirm"), f"{prefix}:confirm"),
            Button(turn.gettext("Cancel"), f"{prefix}:cancel"),
        ]
    ]


def when(turn: Turn, moment: datetime) -> str:
    """A moment as the officer reads it: their language, Vietnam's time."""
    return format_datetime(moment, turn.locale, turn.i18n.timezone)


def reference(action: str | None, position: int) -> int | None:
    """The number at ``position`` in a button action (``ov:p:12:y`` → 12 at 2)."""
    parts = (action or "").split(":")
    ref = parts[position] if len(parts) > position else ""
    return as_id(ref)


def number(text: str) -> int | None:
    """An id as typed after a command ("12", "#12")."""
    bare = text.strip().lstrip("#")
    return as_id(bare)


def parse_moment(text: str, tz: ZoneInfo, *, today_allowed: bool = False) -> datetime | None:
    """A date and time typed in Vietnam's time ("25/12/2026 07:30", "7:30 25/12/2026", "lúc
    7h30 ngày 25/12/2026"), in UTC; with ``today_allowed`` a bare time ("07:30") is today.
    None when the text is anything else."""
    date: re.Match[str] | None = None
    time: re.Match[str] | None = None
    for word in text.lower().replace(",", " ").split():
        if word in _FILLERS:
            continue
        if date is None and (found := _DATE.fullmatch(word)) is not None:
            date = found
        elif time is None and (found := _TIME.fullmatch(word)) is not None:
            time = found
        else:
            return None
    if time is None or (date is None and not today_allowed):
        return None
    if date is None:
        today = utcnow().astimezone(tz)
        day, month, year = today.day, today.month, today.year
    else:
        day, month, year = (int(part) for part in date.groups())
    try:
        local = datetime(year, month, day, int(time.group(1)), int(time.group(2) or 0), tzinfo=tz)
    except ValueError:  # 31/02, 25:00
        return None
    return local.astimezone(UTC)


def soon(moment: datetime | None, now: datetime | None = None) -> bool:
    """Whether ``moment`` is at most a minute away: "now" rather than a time to show."""
    return moment is None or moment <= (now or utcnow()) + timedelta(minutes=1)


def lines(*parts: str | None) -> str:
    return "\n".join(part for part in parts if part)
