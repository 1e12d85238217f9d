"""The breach watch: every read of a tip is recorded here, an account that reads too many tips
(or keeps trying to open tips outside its area) raises a security alert within a minute, and
the incident report tells from the trail what one account did in a time window.

Tips are crime data (Decree 13 Art. 2(4)(g); Law 91): a leak must be noticed at once and
notified within 72 hours with the accounts, records, data categories and time window involved
(reliability.md L8, T37). Everything here reads and writes the audit trail only:

- `record_tip_read` — ``tip.viewed``: the admin web's tip page, the officer bot's card and the
  API's card all call it (actor, tip id, unit, source, address when known; never tip text,
  never the sender).
- `record_refused` — ``access.refused``: a tip that exists but is outside the staff member's
  scope (`tips.access_tip` calls it; the person is still told "not found").
- `watch` — the ticker's job, every minute: staff who in the last `WINDOW` read more than
  ``tip_reads`` distinct tips (each ``tip.exported`` they made adds its count) or were refused
  more than ``refused`` times. Each gets one ``security.alert`` per kind per `WINDOW` — the
  trail is the dedup, checked under a lock of the staff row, so two processes running the
  job at once alert once — and the supervisors and admins of the units above them are told
  in their bot.
- `recent_alerts` — the dashboard banner: the last day's alerts of a supervisor's subtree.
- `incident_report` — one account's logins, reads, exports, refusals and alerts in a window:
  the basis of the 72-hour notice (Form 08). `communepol audit incident` prints it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.db import raw
from communepol.db.models import (
    AuditEvent,
    Role,
    Staff,
    Tip,
    TipAttachment,
    Unit,
)
from communepol.errors import NotFound, ValidationError
from communepol.i18n import N_
from communepol.services import audit, notices, scope
from communepol.services.units import subtree_q

TIP_VIEWED = "tip.viewed"
TIP_EXPORTED = "tip.exported"
REFUSED = "access.refused"
ALERT = "security.alert"
ALERT_PREFIX = "security."  # what the dashboard's banner links the audit log to
LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
API_AUTH_FAILED = "api.auth_failed"

WINDOW = timedelta(minutes=10)
BANNER_PERIOD = timedelta(hours=24)
DEFAULT_TIP_READS = 40
DEFAULT_REFUSED = 5
MAX_REPORT = timedelta(days=92)  # the longest window an incident report covers

READS = "tip_reads"
REFUSALS = "refused"
KINDS = (READS, REFUSALS)

READS_NOTICE = N_(
    "Security alert: {name} ({unit}) opened {count} tips between {start} and {end}. "
    "See the audit log in the admin web."
)
REFUSED_NOTICE = N_(
    "Security alert: {name} ({unit}) tried {count} times between {start} and {end} to open "
    "tips outside their area. See the audit log in the admin web."
)
NOTICES = {READS: READS_NOTICE, REFUSALS: REFUSED_NOTICE}


# --- what is recorded --------------------------------------------------------------------------


async def record_tip_read(
    staff: Staff, tip: Tip, *, source: str, ip: str | None = None
) -> AuditEvent:
    """``staff`` was shown ``tip``'s card (its text, its sender's label): one ``tip.viewed``."""
    return await audit.record(
        TIP_VIEWED,
        actor=staff,
        object_type="tip",
        object_id=tip.id,
        unit_id=tip.unit_id,  # type: ignore[attr-defined]
        source=source,
        ip=ip,
    )


async def record_refused(
    staff: Staff, tip: Tip, *, source: str, ip: str | None = None
) -> AuditEvent:
    """``staff`` asked for ``tip``, which exists but is outside their scope. The event belongs
    to the staff member's unit — their supervisors read it — and names the tip's unit."""
    return await audit.record(
        REFUSED,
        actor=staff,
        object_type="tip",
        object_id=tip.id,
        unit_id=staff.unit_id,  # type: ignore[attr-defined]
        source=source,
        ip=ip,
        data={"tip_unit": tip.unit_id},  # type: ignore[attr-defined]
    )


# --- the watch ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """How much one account may do within `WINDOW` before an alert: distinct tips read (and
    exported), refused attempts. An alert fires above the limit, not at it."""

    tip_reads: int = DEFAULT_TIP_READS
    refused: int = DEFAULT_REFUSED


@dataclass(frozen=True)
class Raised:
    """One alert raised by a tick."""

    staff_id: int
    kind: str
    count: int
    notified: int  # bot messages planned


async def _reads(since: datetime, now: datetime) -> dict[int, tuple[int, int]]:
    """Per staff member: distinct tips read and tips exported in [since, now]."""
    viewed = (
        await AuditEvent.filter(
            action=TIP_VIEWED, at__gte=since, at__lte=now, actor_staff_id__isnull=False
        )
        .annotate(tips=Count("object_id", distinct=True))
        .group_by("actor_staff_id")
        .values_list("actor_staff_id", "tips")
    )
    found = {int(staff_id): (int(tips), 0) for staff_id, tips in viewed}
    # Exports carry how many tips they wrote: the admin web's (a staff member's) counts
    # against them like the reads; the CLI's has no staff actor.
    exported = await AuditEvent.filter(
        action=TIP_EXPORTED, at__gte=since, at__lte=now, actor_staff_id__isnull=False
    ).values_list("actor_staff_id", "data")
    for staff_id, data in exported:
        read, out = found.get(int(staff_id), (0, 0))
        found[int(staff_id)] = (read, out + _count(data, "tips"))
    return found


def _count(data: Any, key: str) -> int:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def _refusals(since: datetime, now: datetime) -> dict[int, int]:
    rows = (
        await AuditEvent.filter(
            action=REFUSED, at__gte=since, at__lte=now, actor_staff_id__isnull=False
        )
        .annotate(attempts=Count("id"))
        .group_by("actor_staff_id")
        .values_list("actor_staff_id", "attempts")
    )
    return {int(staff_id): int(attempts) for staff_id, attempts in rows}


async def overseers(staff: Staff) -> list[Staff]:
    """Who hears of an alert about ``staff``: the active supervisors and admins of every unit
    above theirs; at the top of the tree, the other admins of their own unit."""
    unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    above = [int(part) for part in unit.path.strip("/").split("/") if part]
    if above:
        query = Staff.filter(unit_id__in=above, role__in=scope.APPROVER_ROLES, active=True)
    else:
        query = Staff.filter(unit_id=unit.id, role=Role.ADMIN, active=True)
    return list(await query.exclude(id=staff.id).order_by("id"))


def _clock(moment: datetime, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%H:%M %d/%m/%Y}"


async def _raise(
    staff_id: int,
    kind: str,
    count: int,
    figures: dict[str, int],
    since: datetime,
    now: datetime,
    zone: tzinfo,
) -> Raised | None:
    async with in_transaction(raw.connection(AuditEvent).connection_name):
        # Two processes ticking at once: the second waits here, then finds the first's alert.
        staff = await Staff.select_for_update().filter(id=staff_id).first()
        if staff is None:
            return None
        earlier = await AuditEvent.filter(
            action=ALERT, object_type="staff", object_id=str(staff_id), at__gte=now - WINDOW
        ).values_list("data", flat=True)
        if any(isinstance(data, dict) and data.get("kind") == kind for data in earlier):
            return None
        unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
        people = await overseers(staff)
        planned = await notices.notify(
            people,
            NOTICES[kind],
            f"breach:{staff.id}:{kind}:{int(now.timestamp())}",
            name=staff.full_name,
            unit=unit.name,
            count=count,
            start=_clock(since, zone),
            end=_clock(now, zone),
        )
        await audit.record(
            ALERT,
            actor_label="breach watch",
            object_type="staff",
            object_id=staff.id,
            unit_id=unit.id,
            source="system",
            data={
                "kind": kind,
                "staff": staff.id,
                "count": count,
                **figures,
                "since": since.isoformat(timespec="seconds"),
                "until": now.isoformat(timespec="seconds"),
                "told": len(people),
            },
        )
    return Raised(staff_id, kind, count, planned)


async def watch(limits: Limits, zone: tzinfo, now: datetime | None = None) -> list[Raised]:
    """One tick: an alert for each account above a limit within the last `WINDOW`, unless it
    already had one of that kind within `WINDOW`."""
    now = now or utcnow()
    since = now - WINDOW
    raised: list[Raised] = []
    for staff_id, (read, exported) in sorted((await _reads(since, now)).items()):
        if read + exported > limits.tip_reads:
            figures = {"tips_read": read, "tips_exported": exported}
            done = await _raise(staff_id, READS, read + exported, figures, since, now, zone)
            if done is not None:
                raised.append(done)
    for staff_id, attempts in sorted((await _refusals(since, now)).items()):
        if attempts > limits.refused:
            done = await _raise(staff_id, REFUSALS, attempts, {}, since, now, zone)
            if done is not None:
                raised.append(done)
    return raised


# --- the dashboard's banner --------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityAlert:
    at: datetime
    kind: str
    count: int
    staff_name: str
    unit_name: str


async def recent_alerts(staff: Staff, *, now: datetime | None = None) -> list[SecurityAlert]:
    """The security alerts of the last `BANNER_PERIOD` about staff of ``staff``'s subtree,
    newest first; only for supervisors and admins (who read the audit log), and never the
    alerts about themselves."""
    if staff.role not in scope.APPROVER_ROLES:
        return []
    own = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(staff, own)
    now = now or utcnow()
    units = await Unit.filter(subtree_q(own)).values_list("id", flat=True)
    events = (
        await AuditEvent.filter(action=ALERT, unit_id__in=list(units), at__gte=now - BANNER_PERIOD)
        .exclude(object_id=str(staff.id))
        .order_by("-at", "-id")
        .limit(50)
    )
    subjects = {
        member.id: member
        for member in await Staff.filter(
            id__in=[int(e.object_id) for e in events if e.object_id and e.object_id.isdigit()]
        ).prefetch_related("unit")
    }
    found = []
    for event in events:
        member = subjects.get(int(event.object_id or 0))
        found.append(
            SecurityAlert(
                event.at,
                str(event.data.get("kind", "")),
                _count(event.data, "count"),
                member.full_name if member else f"#{event.object_id}",
                member.unit.name if member else "",
            )
        )
    return found


# --- the incident report -----------------------------------------------------------------------


@dataclass
class Access:
    """One sign-in, or one refused sign-in, of the account."""

    at: datetime
    action: str
    source: str
    ip: str | None
    reason: str | None = None


@dataclass
class TipsFigures:
    """Tips touched, by what they are: the data categories of the notice."""

    events: int = 0  # reads (every opening) or refusals (every attempt)
    tips: int = 0  # distinct tips
    references: list[str] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)
    communes: dict[str, int] = field(default_factory=dict)
    anonymous: int = 0
    with_location: int = 0
    with_files: int = 0


@dataclass
class Exports:
    exports: int = 0
    tips: int = 0
    with_text: int = 0  # exports that carried the tips' text


@dataclass
class AlertRow:
    at: datetime
    kind: str
    count: int


@dataclass
class IncidentReport:
    staff_id: int
    name: str
    username: str | None
    role: str
    unit: str
    active: bool
    since: datetime
    until: datetime
    access: list[Access]
    addresses: list[str]  # every address the account's events came from
    read: TipsFigures
    exported: Exports
    refused: TipsFigures
    alerts: list[AlertRow]


async def find_staff(ref: str) -> Staff:
    """A staff member by id (digits) or username; `NotFound` otherwise."""
    text = ref.strip()
    found = None
    if text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= 2**31 - 1:
        found = await Staff.get_or_none(id=int(text))
    if found is None and text:
        found = await Staff.get_or_none(username=text.lower())
    if found is None:
        raise NotFound(f"no staff member with the id or username {ref!r}")
    return found


async def _tip_figures(tip_ids: set[int], events: int) -> TipsFigures:
    rows = list(await Tip.filter(id__in=sorted(tip_ids)).prefetch_related("unit"))
    with_files = set(
        await TipAttachment.filter(tip_id__in=sorted(tip_ids))
        .distinct()
        .values_list("tip_id", flat=True)
    )
    missing = tip_ids - {tip.id for tip in rows}
    return TipsFigures(
        events=events,
        tips=len(tip_ids),
        references=sorted(f"T-{tip.reference}" for tip in rows)
        + [f"#{tip_id} (deleted)" for tip_id in sorted(missing)],
        categories=dict(sorted(Counter(tip.category.value for tip in rows).items())),
        communes=dict(sorted(Counter(tip.unit.name for tip in rows).items())),
        anonymous=sum(1 for tip in rows if tip.anonymous),
        with_location=sum(
            1 for tip in rows if tip.location_lat is not None or tip.location_text is not None
        ),
        with_files=len(with_files),
    )


def _tip_ids(values: list[Any]) -> set[int]:
    return {int(value) for value in values if isinstance(value, str) and value.isdigit()}


async def incident_report(staff: Staff, since: datetime, until: datetime) -> IncidentReport:
    """What ``staff`` did between ``since`` and ``until`` (UTC), from the audit trail alone."""
    if until <= since:
        raise ValidationError("the window must end after it starts", field="until")
    if until - since > MAX_REPORT:
        raise ValidationError("the window is at most 92 days", field="since")
    unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    window = AuditEvent.filter(at__gte=since, at__lte=until)
    own = window.filter(actor_staff_id=staff.id)

    access = [
        Access(event.at, event.action, event.source, event.ip)
        for event in await own.filter(action=LOGIN).order_by("at", "id")
    ]
    # Refused sign-ins name the account in their data (an unknown name has no staff id).
    for event in await window.filter(
        action__in=(LOGIN_FAILED, API_AUTH_FAILED), unit_id=unit.id
    ).order_by("at", "id"):
        if isinstance(event.data, dict) and event.data.get("staff") == staff.id:
            access.append(
                Access(event.at, event.action, event.source, event.ip, event.data.get("reason"))
            )
    access.sort(key=lambda item: item.at)
    addresses = sorted(
        {str(ip) for ip in await own.exclude(ip=None).distinct().values_list("ip", flat=True)}
        | {item.ip for item in access if item.ip}
    )

    viewed = list(await own.filter(action=TIP_VIEWED).values_list("object_id", flat=True))
    refused = list(await own.filter(action=REFUSED).values_list("object_id", flat=True))
    exports = Exports()
    for data in await own.filter(action=TIP_EXPORTED).values_list("data", flat=True):
        exports.exports += 1
        exports.tips += _count(data, "tips")
        exports.with_text += 1 if isinstance(data, dict) and data.get("with_text") else 0
    alerts = [
        AlertRow(event.at, str(event.data.get("kind", "")), _count(event.data, "count"))
        for event in await window.filter(
            action=ALERT, object_type="staff", object_id=str(staff.id)
        ).order_by("at", "id")
    ]
    return IncidentReport(
        staff_id=staff.id,
        name=staff.full_name,
        username=staff.username,
        role=staff.role.value,
        unit=unit.name,
        active=staff.active,
        since=since,
        until=until,
        access=access,
        addresses=addresses,
        read=await _tip_figures(_tip_ids(viewed), len(viewed)),
        exported=exports,
        refused=await _tip_figures(_tip_ids(refused), len(refused)),
        alerts=alerts,
    )


__all__ = [
    "ALERT",
    "ALERT_PREFIX",
    "REFUSED",
    "TIP_VIEWED",
    "WINDOW",
    "IncidentReport",
    "Limits",
    "Raised",
    "SecurityAlert",
    "find_staff",
    "incident_report",
    "overseers",
    "recent_alerts",
    "record_refused",
    "record_tip_read",
    "watch",
]
