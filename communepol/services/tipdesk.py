"""The tip desk as the admin web shows it: the reply-time board with its "remind the station"
action, the tips inbox with its filters, and everything a tip's page shows.

Each function takes the signed-in staff member and keeps to their scope the way the bot does:
the inbox is `tips.scope_q` (their subtree and what is routed into it), a tip's page is
`tips.access_tip`, the board is `sla.response_times` of their own unit, and a reminder goes
only to a commune `scope.require_unit` lets them reach — anything else is `NotFound`. The
officer actions themselves are `tips.Tips`' methods, called by the web exactly as by the bot.

Nothing here hands a view a tipster's identity: the inbox gives an anonymous tip's alias and
only the word "named" for the others, the page the label `tips.sender_label` gives officers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from tortoise.expressions import Case, F, Q, When
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    AttachmentStatus,
    AuditEvent,
    Role,
    RumourCluster,
    Staff,
    Tip,
    TipAttachment,
    TipCategory,
    TipEvent,
    TipMessage,
    TipStatus,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import N_, _
from communepol.services import (
    audit,
    breachwatch,
    notices,
    overview,
    scope,
    sla,
    tipboard,
    tipcards,
    tipmedia,
    tips,
)

PAGE_SIZE = 50
BOARD_PERIODS = (7, 30, 90)  # days a board may look back
DEFAULT_PERIOD = 30
REMIND_EVERY = timedelta(minutes=10)  # at most one reminder per commune within this
REMINDED = "tip.station_reminded"
REMINDER = N_(
    "Reminder from {name}: {commune} has {count} overdue tips waiting for an answer. "
    "Type /tips overdue to see them."
)
THREAD_LIMIT = 500
OPEN = "open"  # the status filter for every open status
SORTS = ("newest", "urgent")
EXPORTERS = (Role.SUPERVISOR, Role.ADMIN)


# --- the board ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    figures: sla.ResponseTime
    reminded_at: datetime | None  # the last reminder within REMIND_EVERY


def period_of(value: str | None) -> int:
    """The board's period in days from a query value; the default for anything else."""
    if value and value.isdigit() and int(value) in BOARD_PERIODS:
        return int(value)
    return DEFAULT_PERIOD


def _rank(row: sla.ResponseTime) -> tuple[int, int, float, str]:
    # Most overdue first, then the slowest median (no answer yet counts as slowest), by name.
    median = row.median_minutes
    return (
        -row.overdue,
        0 if median is None and row.received else 1,
        -(median or 0),
        row.unit_name,
    )


async def board(staff: Staff, days: int = DEFAULT_PERIOD) -> list[BoardRow]:
    """Every commune under ``staff``'s unit, ranked by overdue tips, then by the median minutes
    to the first response (the slowest first): `sla.response_times` over ``days`` days."""
    if days not in BOARD_PERIODS:
        raise ValidationError(_("7, 30 or 90 days"), field="days")
    now = utcnow()
    figures = await sla.response_times(staff, since=now - timedelta(days=days), now=now)
    recent = await AuditEvent.filter(
        action=REMINDED,
        object_type="unit",
        object_id__in=[str(row.unit_id) for row in figures],
        at__gte=now - REMIND_EVERY,
    ).values_list("object_id", "at")
    last: dict[str, datetime] = {}
    for object_id, at in recent:
        if object_id not in last or at > last[object_id]:
            last[object_id] = at
    return [BoardRow(row, last.get(str(row.unit_id))) for row in sorted(figures, key=_rank)]


@dataclass(frozen=True)
class Reminded:
    commune: Unit
    overdue: int
    people: int  # officers it went to
    planned: int  # bot messages planned


async def remind_station(
    staff: Staff, commune_id: int, *, source: str = "web", ip: str | None = None
) -> Reminded:
    """Tell a commune's officers on duty (all its officers when nobody is) in their bot how
    many of its tips are overdue. At most once per commune within `REMIND_EVERY`, whoever
    asks: a second time is `Conflict`. Audited."""
    commune = await Unit.get_or_none(id=commune_id, level=UnitLevel.COMMUNE)
    if commune is None:
        raise NotFound("not found")
    await scope.require_unit(staff, commune)
    now = utcnow()
    async with in_transaction(raw.connection(AuditEvent).connection_name):
        # Two supervisors pressing at once: the second waits here, then finds the first.
        await Unit.select_for_update().filter(id=commune.id).first()
        if await AuditEvent.exists(
            action=REMINDED,
            object_type="unit",
            object_id=str(commune.id),
            at__gte=now - REMIND_EVERY,
        ):
            raise Conflict(_("this station was reminded less than 10 minutes ago"))
        [figures] = await sla.response_times_for_unit(commune, now=now)
        people = await tips.responders(commune.id)
        planned = await notices.notify(
            people,
            REMINDER,
            f"remind:{commune.id}:{int(now.timestamp())}",
            name=staff.full_name,
            commune=commune.name,
            count=figures.overdue,
        )
        await audit.record(
            REMINDED,
            actor=staff,
            object_type="unit",
            object_id=commune.id,
            unit_id=commune.id,
            source=source,
            ip=ip,
            data={"overdue": figures.overdue, "people": len(people), "planned": planned},
        )
    return Reminded(commune, figures.overdue, len(people), planned)


# --- the inbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilter:
    status: str = ""  # a TipStatus value, OPEN, or "" for all
    category: str = ""
    commune_id: int | None = None
    overdue: bool = False
    anonymous: str = ""  # "yes", "no" or "" for both
    sort: str = "newest"
    page: int = 1


@dataclass(frozen=True)
class InboxRow:
    tip: Tip
    sender: str | None  # the alias of an anonymous tip; None for a named one
    overdue: bool


@dataclass(frozen=True)
class Inbox:
    rows: list[InboxRow]
    total: int
    page: int
    pages: int
    communes: list[Unit]  # what the commune filter offers


def _overdue_q(now: datetime) -> Q:
    return Q(status__in=OPEN_TIP_STATUSES) & (
        Q(first_response_at__isnull=True, first_response_due_at__lte=now)
        | Q(resolution_due_at__lte=now)
    )


async def _filtered(
    staff: Staff, which: InboxFilter, now: datetime
) -> tuple[QuerySet[Tip], list[Unit]]:
    """The tips ``staff`` may see under the inbox's filters (`ValidationError` for a filter
    not known, `NotFound` for a commune outside the scope), and the communes they can pick."""
    query = Tip.filter(await tips.scope_q(staff))
    if which.status == OPEN:
        query = query.filter(status__in=OPEN_TIP_STATUSES)
    elif which.status:
        try:
            query = query.filter(status=TipStatus(which.status))
        except ValueError as err:
            raise ValidationError(_("unknown status"), field="status") from err
    if which.category:
        try:
            query = query.filter(category=TipCategory(which.category))
        except ValueError as err:
            raise ValidationError(_("unknown tip category"), field="category") from err
    communes = await overview.communes_for(staff)
    if which.commune_id is not None:
        if which.commune_id not in {commune.id for commune in communes}:
            raise NotFound("not found")
        query = query.filter(unit_id=which.commune_id)
    if which.overdue:
        query = query.filter(_overdue_q(now))
    if which.anonymous in ("yes", "no"):
        query = query.filter(anonymous=which.anonymous == "yes")
    if which.sort not in SORTS:
        raise ValidationError(_("newest or urgent"), field="sort")
    return query, communes


async def inbox(staff: Staff, which: InboxFilter) -> Inbox:
    """The tips ``staff`` may see (what the bot's /tips sees, closed ones too), filtered,
    newest or most urgent first, `PAGE_SIZE` a page."""
    now = utcnow()
    query, communes = await _filtered(staff, which, now)
    total = await query.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, which.page), pages)
    if which.sort == "urgent":
        # Open tips first, by the deadline that still runs: the first response until there
        # is one, then the resolution.
        ordered = query.annotate(
            closed=Case(When(Q(status__in=OPEN_TIP_STATUSES), then="0"), default="1"),
            due=Case(
                When(Q(first_response_at__isnull=True), then=F("first_response_due_at")),
                default=F("resolution_due_at"),
            ),
        ).order_by("closed", "due", "id")
    else:
        ordered = query.order_by("-created_at", "-id")
    found = await ordered.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE).prefetch_related("unit")
    rows = [
        InboxRow(tip, (tip.alias or "—") if tip.anonymous else None, tips.is_overdue(tip, now))
        for tip in found
    ]
    return Inbox(rows, total, page, pages, communes)


def may_export(staff: Staff) -> bool:
    """Exporting tips is for supervisors and admins: a spreadsheet of police records leaves
    the system, so it is one of the reads the audit and the breach watch look at."""
    return staff.role in EXPORTERS


async def export_inbox(
    staff: Staff, which: InboxFilter, *, tz: tzinfo, ip: str | None = None
) -> list[list[str]]:
    """Every tip of the inbox under ``which`` (all pages, oldest first) as spreadsheet rows
    headed by `tipboard.EXPORT_COLUMNS`: the CLI export's columns, without the tips' text
    and never a sender's name. `PermissionDenied` for an officer. Audited ``tip.exported``
    with the count and the filters."""
    if not may_export(staff):
        raise PermissionDenied(_("exporting tips is for supervisors and admins"))
    query, _communes = await _filtered(staff, which, utcnow())
    found = await query.order_by("created_at", "id").prefetch_related("unit")
    filters = {
        "status": which.status,
        "category": which.category,
        "commune": which.commune_id,
        "overdue": which.overdue,
        "anonymous": which.anonymous,
    }
    await audit.record(
        "tip.exported",
        actor=staff,
        object_type="unit",
        object_id=staff.unit_id,  # type: ignore[attr-defined]
        unit_id=staff.unit_id,  # type: ignore[attr-defined]
        source="web",
        ip=ip,
        data={"tips": len(found), "with_text": False, **filters},
    )
    return [list(tipboard.EXPORT_COLUMNS), *(tipboard.export_row(tip, tz) for tip in found)]


# --- a tip's page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    row: TipAttachment
    url: str | None  # the signed link of a stored file


@dataclass(frozen=True)
class TipPage:
    card: tipcards.TipCard
    overdue: bool
    thread: list[TipMessage]
    events: list[TipEvent]
    attachments: list[Attachment]
    duplicate_of: Tip | None
    assignee: Staff | None
    rumour: RumourCheck | None = None  # a rumour check's cluster


async def tip_page(
    keyring: Keyring,
    staff: Staff,
    ref: str,
    base_url: str,
    *,
    source: str = "web",
    ip: str | None = None,
) -> TipPage:
    """Everything the page of tip ``ref`` shows, if ``staff`` may see it (`NotFound` else):
    the card the bot shows, the thread, the events with who did them, the attachments behind
    signed links. Opening it is audited (`breachwatch.record_tip_read`): it shows personal
    data."""
    tip = await tips.access_tip(staff, ref, source=source, ip=ip)
    card = await tipcards.TipCard.of(tip, await tips.sender_label(keyring, tip))
    thread = await tips.thread(staff, tip.id, limit=THREAD_LIMIT)
    events = list(
        await TipEvent.filter(tip_id=tip.id).order_by("created_at", "id").prefetch_related("actor")
    )
    files = [
        Attachment(
            row,
            tipmedia.link(keyring, base_url, row.id)
            if row.status is AttachmentStatus.STORED
            else None,
        )
        for row in await TipAttachment.filter(tip_id=tip.id).order_by("id")
    ]
    original = None
    if tip.duplicate_of_id is not None:  # type: ignore[attr-defined]
        original = await Tip.get_or_none(id=tip.duplicate_of_id)  # type: ignore[attr-defined]
    assignee = None
    if tip.assignee_id is not None:  # type: ignore[attr-defined]
        assignee = await Staff.get_or_none(id=tip.assignee_id)  # type: ignore[attr-defined]
    await breachwatch.record_tip_read(staff, tip, source=source, ip=ip)
    return TipPage(
        card, tips.is_overdue(tip), thread, events, files, original, assignee, await rumour_of(tip)
    )


# --- a rumour check's cluster -------------------------------------------------------------------


@dataclass(frozen=True)
class RumourCheck:
    """The rumour a rumour-check tip belongs to, as its page shows it. The verdict and its post
    are `rumours.give_verdict` / `rumours.publish_verdict`, called by the web as by the bot."""

    cluster: RumourCluster
    forwards: int  # tips of this rumour, from every commune of the province
    waiting: int  # of them still open: the verdict answers these
    decided_by: Staff | None

    @property
    def decided(self) -> bool:
        return self.cluster.verdict is not None

    @property
    def post_id(self) -> int | None:
        """The rumour-check post written from the verdict (0 while one is being written)."""
        return self.cluster.post_id or None


async def rumour_of(tip: Tip) -> RumourCheck | None:
    """The cluster of ``tip`` (already checked to be in the reader's scope), None for a tip
    that is no rumour check. Only counts leave the cluster: the other forwards' texts and
    senders are other communes' tips."""
    cluster_id = tip.rumour_cluster_id  # type: ignore[attr-defined]
    if tip.category is not TipCategory.RUMOUR_CHECK or cluster_id is None:
        return None
    cluster = await RumourCluster.get(id=cluster_id)
    members = Tip.filter(rumour_cluster_id=cluster.id)
    decided_by = None
    if cluster.decided_by_id is not None:  # type: ignore[attr-defined]
        decided_by = await Staff.get_or_none(id=cluster.decided_by_id)  # type: ignore[attr-defined]
    return RumourCheck(
        cluster,
        await members.count(),
        await members.filter(status__in=OPEN_TIP_STATUSES).count(),
        decided_by,
    )


__all__ = [
    "BOARD_PERIODS",
    "PAGE_SIZE",
    "REMIND_EVERY",
    "BoardRow",
    "Inbox",
    "InboxFilter",
    "Reminded",
    "RumourCheck",
    "TipPage",
    "board",
    "inbox",
    "period_of",
    "remind_station",
    "rumour_of",
    "tip_page",
]
