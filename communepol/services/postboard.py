"""Posts and alerts as the admin web shows them: the list of a staff member's posts, a month's
calendar (what is scheduled — once posts and the coming occurrences of recurring ones —,
what is still a draft or awaits approval but has a planned time, and what went out each day,
in the people's timezone), a post saved with its attachment as one
change, and the alerts in scope with the messages that followed them.

Every read is bounded by the staff member's scope (`officers.pages_in_scope`, `alerts.get_alert`);
the writes are the posts service's own functions, put together in one transaction so a refused
attachment leaves nothing behind.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.db import raw
from communepol.db.models import (
    Alert,
    AlertMessageType,
    Delivery,
    Page,
    Post,
    PostStatus,
    Publication,
    ScheduleKind,
    Staff,
    Unit,
)
from communepol.errors import NotFound, ValidationError
from communepol.i18n import _
from communepol.schedule import next_occurrence
from communepol.services import alerts, officers, overview, posts
from communepol.services.pages import pick_translation
from communepol.services.units import subtree_prefix
from communepol.settings import Settings

LIST_LIMIT = 200
ALERT_LIMIT = 50
ALERT_CANDIDATES = 300
OCCURRENCES_MAX = 62  # per recurring post and month: twice a day at most is shown
ON_CALENDAR = (PostStatus.SCHEDULED, PostStatus.PENDING_APPROVAL, PostStatus.DRAFT)
# Not on its way yet: shown with its status as a word, linking to the editor.
PLANNED = frozenset({PostStatus.DRAFT, PostStatus.PENDING_APPROVAL})


def current_month(settings: Settings) -> tuple[int, int]:
    """The year and month it is now in the people's timezone."""
    today = utcnow().astimezone(settings.tz)
    return today.year, today.month


@dataclass(frozen=True)
class PostRow:
    id: int
    page: Page
    category: str
    status: PostStatus
    schedule: ScheduleKind
    cron: str | None
    next_run_at: datetime | None
    published_at: datetime | None
    title: str


def _title(post: Post, page: Page) -> str:
    translation = pick_translation(post.translations, page.default_locale, page.default_locale)
    return translation.title if translation else ""


async def _pages(staff: Staff, page_id: int | None) -> list[Page]:
    pages = await officers.pages_in_scope(staff)
    if page_id is None:
        return pages
    chosen = [page for page in pages if page.id == page_id]
    if not chosen:
        raise NotFound("not found")
    return chosen


async def list_posts(
    staff: Staff,
    *,
    page_id: int | None = None,
    status: PostStatus | None = None,
    limit: int = LIST_LIMIT,
    offset: int = 0,
) -> list[PostRow]:
    """The posts (not alerts' posts) on the pages in ``staff``'s scope — or on one of them —
    newest first. `NotFound` for a page outside the scope."""
    pages = {page.id: page for page in await _pages(staff, page_id)}
    query = Post.filter(page_id__in=list(pages), alert_id=None)
    if status is not None:
        query = query.filter(status=status)
    found = (
        await query.order_by("-created_at", "-id")
        .offset(offset)
        .limit(limit)
        .prefetch_related("translations")
    )
    rows = []
    for post in found:
        page = pages[post.page_id]  # type: ignore[attr-defined]
        rows.append(
            PostRow(
                id=post.id,
                page=page,
                category=post.category.value,
                status=post.status,
                schedule=post.schedule_kind,
                cron=post.cron_expression,
                next_run_at=post.next_run_at,
                published_at=post.published_at,
                title=_title(post, page),
            )
        )
    return rows


PAGE_MAX = 100


@dataclass(frozen=True)
class PostPage:
    items: list[PostRow]
    next_offset: int | None  # None: this was the last page


async def posts_page(
    staff: Staff,
    *,
    page_id: int | None = None,
    status: PostStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PostPage:
    """One page of `list_posts` (the same posts, the same order), and where the next begins."""
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationError(_("limit is 1 to {limit}"), field="limit", limit=PAGE_MAX)
    if offset < 0:
        raise ValidationError(_("offset is 0 or more"), field="offset")
    rows = await list_posts(staff, page_id=page_id, status=status, limit=limit + 1, offset=offset)
    more = len(rows) > limit
    return PostPage(rows[:limit], offset + limit if more else None)


@dataclass(frozen=True)
class PostDetails:
    """One post as its page shows it: its title in the page's language, each publication's
    delivery figures, and what may still be done to it."""

    post: Post
    title: str
    stats: list[posts.PublicationStats]
    editable: bool  # an alert's post changes through its alert
    cancellable: bool


async def post_details(staff: Staff, post_id: int) -> PostDetails:
    """A post in ``staff``'s scope with its figures; `NotFound` otherwise."""
    post = await posts.get_post(staff, post_id)
    await post.fetch_related("author", "approved_by")
    stats = await posts.publication_stats(staff, post_id)
    of_alert = post.alert_id is not None  # type: ignore[attr-defined]
    return PostDetails(
        post=post,
        title=_title(post, post.page),
        stats=stats,
        editable=post.status in posts.EDITABLE and not of_alert,
        cancellable=post.status in posts.CANCELLABLE and not of_alert,
    )


@dataclass(frozen=True)
class Entry:
    """One thing on a calendar day: a post due then, or a publication that went out."""

    post_id: int
    at: datetime  # UTC
    title: str
    page: str
    status: PostStatus | None = None  # a scheduled occurrence: its post's status
    recurring: bool = False
    publication_id: int | None = None  # what went out

    @property
    def planned(self) -> bool:
        """A draft or a post awaiting approval: its time is planned, not yet scheduled."""
        return self.status in PLANNED


@dataclass
class Day:
    day: date
    in_month: bool
    scheduled: list[Entry] = field(default_factory=list)
    published: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Month:
    first: date
    weeks: list[list[Day]]

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return (self.first + timedelta(days=32)).replace(day=1)


def _occurrences(
    post: Post, start: datetime, end: datetime, now: datetime, tz: ZoneInfo
) -> list[datetime]:
    """The coming occurrences of a recurring post between ``start`` and ``end`` (UTC)."""
    expression = post.cron_expression or ""
    cursor = max(start - timedelta(seconds=1), now)
    found: list[datetime] = []
    while len(found) < OCCURRENCES_MAX:
        upcoming = next_occurrence(expression, cursor, tz)
        if upcoming is None or upcoming >= end:
            break
        if post.expires_at is not None and upcoming >= post.expires_at:
            break
        found.append(upcoming)
        cursor = upcoming
    return found


async def month_calendar(
    staff: Staff, year: int, month: int, settings: Settings, *, page_id: int | None = None
) -> Month:
    """The month ``year``-``month`` in the people's timezone, Monday first: each day's
    scheduled occurrences (once posts at their time; the occurrences of recurring posts still
    to come) and its publications, on the pages in ``staff``'s scope. Drafts and posts
    awaiting approval are there too at the time they would go out (`Entry.planned`); a draft
    without a time ("now") has none, so it is not."""
    tz = settings.tz
    pages = {page.id: page for page in await _pages(staff, page_id)}
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
    grid_start = first - timedelta(days=first.weekday())
    grid_end = last + timedelta(days=6 - last.weekday())
    days = {
        grid_start + timedelta(days=n): Day(grid_start + timedelta(days=n), False)
        for n in range((grid_end - grid_start).days + 1)
    }
    for day in days.values():
        day.in_month = day.day.month == month

    def local_day(moment: datetime) -> Day | None:
        return days.get(moment.astimezone(tz).date())

    now = utcnow()
    waiting = (
        await Post.filter(page_id__in=list(pages), status__in=ON_CALENDAR)
        .order_by("next_run_at", "id")
        .prefetch_related("translations")
    )
    for post in waiting:
        page = pages[post.page_id]  # type: ignore[attr-defined]
        recurring = post.schedule_kind is ScheduleKind.CRON and bool(post.cron_expression)
        if recurring:
            moments = _occurrences(post, start, end, now, tz)
        elif post.next_run_at is not None and start <= post.next_run_at < end:
            moments = [post.next_run_at]
        else:
            moments = []
        for moment in moments:
            slot = local_day(moment)
            if slot is not None:
                slot.scheduled.append(
                    Entry(post.id, moment, _title(post, page), page.title, post.status, recurring)
                )
    publications = (
        await Publication.filter(
            post__page_id__in=list(pages), occurrence_at__gte=start, occurrence_at__lt=end
        )
        .select_related("post")
        .prefetch_related("post__translations")
        .order_by("occurrence_at", "id")
    )
    for publication in publications:
        post = publication.post
        page = pages[post.page_id]  # type: ignore[attr-defined]
        slot = local_day(publication.occurrence_at)
        if slot is not None:
            slot.published.append(
                Entry(
                    post.id,
                    publication.occurrence_at,
                    _title(post, page),
                    page.title,
                    publication_id=publication.id,
                )
            )
    for day in days.values():
        day.scheduled.sort(key=lambda entry: (entry.at, entry.post_id))
    ordered = [days[key] for key in sorted(days)]
    return Month(first, [ordered[n : n + 7] for n in range(0, len(ordered), 7)])


async def save_post(
    staff: Staff,
    data: posts.PostInput,
    settings: Settings,
    *,
    page_id: int | None = None,
    post_id: int | None = None,
    version: int = 0,
    attachment: tuple[bytes, str] | None = None,
    submit: bool = False,
    source: str = "web",
) -> Post:
    """The editor's save, as one change: a new post on ``page_id`` or an edit of ``post_id``
    (at ``version``, `posts.update_post`'s check), its attachment (bytes and file name) and,
    when ``submit``, a draft sent on its way (`posts.submit_post`). A refusal anywhere leaves
    nothing written."""
    async with in_transaction(raw.connection(Post).connection_name):
        if post_id is None:
            if page_id is None:
                raise NotFound("not found")
            post = await posts.create_post(staff, page_id, data, settings, source=source)
        else:
            post = await posts.update_post(
                staff, post_id, data, settings, version=version, source=source
            )
        if attachment is not None:
            await posts.add_attachment(
                staff, post.id, attachment[0], attachment[1], settings, source=source
            )
        if submit and post.status is PostStatus.DRAFT:
            post = await posts.submit_post(staff, post.id, settings, source=source)
        return post


@dataclass(frozen=True)
class AlertMessage:
    alert: Alert
    recipients: int  # deliveries planned for it


@dataclass(frozen=True)
class AlertDetails:
    original: Alert
    messages: list[AlertMessage]  # the original, then its updates and its cancel
    pages: list[Page]
    two_person: bool


async def recent_alerts(staff: Staff, *, limit: int = ALERT_LIMIT) -> list[Alert]:
    """The alerts (first messages, not their updates) whose every target is in ``staff``'s
    scope, newest first."""
    unit = await officers.unit_of(staff)
    below = subtree_prefix(unit)
    touching = (
        Q(targets__page__unit_id=unit.id)
        | Q(targets__page__unit__path__startswith=below)
        | Q(targets__unit_id=unit.id)
        | Q(targets__unit__path__startswith=below)
    )
    candidates = (
        await Alert.filter(touching, msg_type=AlertMessageType.ALERT)
        .distinct()
        .order_by("-created_at", "-id")
        .limit(ALERT_CANDIDATES)
    )
    visible: list[Alert] = []
    for alert in candidates:
        try:
            visible.append(await alerts.get_alert(staff, alert.id))
        except NotFound:
            continue
        if len(visible) == limit:
            break
    return visible


async def alert_details(staff: Staff, alert_id: int) -> AlertDetails:
    """An alert in ``staff``'s scope (asked by the id of any of its messages), its pages and
    every message of it with how many deliveries each planned; `NotFound` otherwise."""
    alert = await alerts.get_alert(staff, alert_id)
    while alert.references_id is not None:  # type: ignore[attr-defined]
        alert = await Alert.get(id=alert.references_id)  # type: ignore[attr-defined]
    chain = [alert]
    while True:
        following = await Alert.filter(references_id=chain[-1].id).order_by("id").first()
        if following is None:
            break
        chain.append(following)
    messages = [
        AlertMessage(item, await Delivery.filter(publication__post__alert_id=item.id).count())
        for item in chain
    ]
    return AlertDetails(
        alert, messages, await alerts.target_pages(alert), await alerts.needs_second_person(alert)
    )


@dataclass(frozen=True)
class AlertTargets:
    """What an alert of ``staff`` may reach: the pages in scope, and units whose subtree it may
    take whole (their own unit and the communes below it)."""

    pages: list[Page]
    units: list[Unit]


async def alert_targets(staff: Staff) -> AlertTargets:
    own = await officers.unit_of(staff)
    units = {own.id: own}
    for commune in await overview.communes_for(staff):
        units.setdefault(commune.id, commune)
    return AlertTargets(await officers.pages_in_scope(staff), list(units.values()))
