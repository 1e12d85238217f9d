"""Posts: writing, approval, scheduling, publishing, stopping.

Lifecycle::

    draft ──submit──▶ pending_approval ──approve──▶ scheduled ──(due)──▶ publishing ─▶ published
      ▲                     │ reject                   │ (recurring: stays scheduled, next time)
      └─────────────────────┘                          ▼
    cancel (any time before published) → cancelled;  expires_at passed → expired

A post needs a supervisor's approval when its page lists the category in
``approval_categories`` and its author is not a supervisor. It can be edited until it is
published; editing a post that was approved sends it back for approval.

The schedule lives in the ``post`` table. `Publisher.publish_due` — the ticker's job — reads
the due posts and claims each occurrence with one conditional UPDATE (``WHERE status =
'scheduled' AND next_run_at = <the occurrence it read>``): whichever process or tick wins the
update owns that occurrence, and the claim, the `Publication` (unique per post and occurrence)
and the fan-out of every delivery commit together. So a restart, a late tick, a clock jump or a
second process publishes each occurrence exactly once, and an occurrence that fell due while
the service was down is published when it comes back. A recurring post that missed several
occurrences publishes the latest once and moves on to the next one in the future; it does not
flood its followers with the backlog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from communepol.clock import require_aware, utcnow
from communepol.db import raw
from communepol.db.models import (
    AttachmentKind,
    DeliveryKind,
    DeliveryStatus,
    Page,
    Post,
    PostAttachment,
    PostCategory,
    PostStatus,
    PostTranslation,
    Publication,
    PublicationStatus,
    ScheduleKind,
    Staff,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import POST_CATEGORY_LABELS, SUPPORTED_LOCALES, I18n, _
from communepol.media import IMAGE_CONTENT_TYPES, PDF, MediaStore
from communepol.ports import Button, ButtonKind, Media, MediaKind, OutboundMessage
from communepol.schedule import cron_trigger, next_occurrence
from communepol.services import audit, fanout, householdgroups, notices, outbox, scope
from communepol.services.fanout import Audience
from communepol.services.pages import pick_translation
from communepol.settings import Settings
from communepol.text import clean, clean_message

log = logging.getLogger(__name__)

TITLE_MAX = 300
BODY_MAX = 8000
EDITABLE = (PostStatus.DRAFT, PostStatus.PENDING_APPROVAL, PostStatus.SCHEDULED)
CANCELLABLE = (*EDITABLE, PostStatus.PUBLISHING)


@dataclass(frozen=True)
class Translation:
    locale: str
    title: str
    body: str


@dataclass(frozen=True)
class PostInput:
    """What a staff member writes: validated by `validate` before anything is stored."""

    category: str
    translations: Sequence[Translation]
    schedule: ScheduleKind = ScheduleKind.NOW
    at: datetime | None = None  # ONCE: when
    cron: str | None = None  # CRON: five fields, in the people's timezone
    expires_at: datetime | None = None
    must_reach_every_household: bool = False


def input_of(post: Post) -> PostInput:
    """A stored post (its translations loaded) as what its author wrote: an edit that changes
    a few fields starts from this."""
    return PostInput(
        category=post.category.value,
        translations=[Translation(t.locale, t.title, t.body) for t in post.translations],
        schedule=post.schedule_kind,
        at=post.next_run_at if post.schedule_kind is ScheduleKind.ONCE else None,
        cron=post.cron_expression,
        expires_at=post.expires_at,
        must_reach_every_household=post.must_reach_every_household,
    )


def _category(value: str) -> PostCategory:
    try:
        return PostCategory(value)
    except ValueError as err:
        choices = ", ".join(c.value for c in PostCategory)
        raise ValidationError(
            _("unknown category {value!r}; one of {choices}"),
            field="category",
            value=value,
            choices=choices,
        ) from err


def _translations(items: Sequence[Translation]) -> list[Translation]:
    if not items:
        raise ValidationError(_("a post needs a title and a text"), field="translations")
    seen: dict[str, Translation] = {}
    for item in items:
        if item.locale not in SUPPORTED_LOCALES:
            raise ValidationError(
                _("unsupported language {locale!r}"), field="locale", locale=item.locale
            )
        if item.locale in seen:
            raise ValidationError(_("two texts in {locale!r}"), field="locale", locale=item.locale)
        title = clean(item.title)
        body = clean_message(item.body).strip()
        if not title:
            raise ValidationError(_("the title is empty"), field="title")
        if len(title) > TITLE_MAX:
            raise ValidationError(
                _("a title has at most {limit} characters"), field="title", limit=TITLE_MAX
            )
        if not body:
            raise ValidationError(_("the text is empty"), field="body")
        if len(body) > BODY_MAX:
            raise ValidationError(
                _("a text has at most {limit} characters"), field="body", limit=BODY_MAX
            )
        seen[item.locale] = Translation(item.locale, title, body)
    return list(seen.values())


@dataclass(frozen=True)
class _Valid:
    category: PostCategory
    translations: list[Translation]
    schedule: ScheduleKind
    at: datetime | None
    cron: str | None
    expires_at: datetime | None
    must_reach_every_household: bool


def validate(data: PostInput, settings: Settings, now: datetime) -> _Valid:
    """Check everything a staff member typed; `ValidationError` names the field."""
    at = cron = None
    if data.schedule is ScheduleKind.ONCE:
        if data.at is None:
            raise ValidationError(_("give the time to publish at"), field="at")
        at = require_aware(data.at, "at")
        if at < now - timedelta(minutes=1):
            raise ValidationError(_("the time to publish at has passed"), field="at")
    elif data.schedule is ScheduleKind.CRON:
        cron = " ".join((data.cron or "").split())
        cron_trigger(cron, settings.tz)  # raises a ValidationError naming the expression
        if next_occurrence(cron, now, settings.tz) is None:
            raise ValidationError(_("this schedule never comes"), field="cron_expression")
    expires_at = require_aware(data.expires_at, "expires_at") if data.expires_at else None
    if expires_at is not None and expires_at <= now:
        raise ValidationError(_("the expiry time has passed"), field="expires_at")
    if expires_at is not None and at is not None and expires_at <= at:
        raise ValidationError(_("the post would expire before it is published"), field="expires_at")
    return _Valid(
        _category(data.category),
        _translations(data.translations),
        data.schedule,
        at,
        cron,
        expires_at,
        data.must_reach_every_household,
    )


def _first_run(valid: _Valid | Post, settings: Settings, now: datetime) -> datetime | None:
    kind = valid.schedule if isinstance(valid, _Valid) else valid.schedule_kind
    if kind is ScheduleKind.NOW:
        return now
    if kind is ScheduleKind.ONCE:
        return valid.at if isinstance(valid, _Valid) else valid.next_run_at
    expression = valid.cron if isinstance(valid, _Valid) else valid.cron_expression
    return next_occurrence(expression or "", now, settings.tz)


async def _page_in_scope(staff: Staff, page_id: int) -> Page:
    page = await Page.filter(id=page_id, active=True).select_related("unit").first()
    if page is None:
        raise NotFound("not found")
    await scope.require_unit(staff, page.unit)
    return page


async def get_post(staff: Staff, post_id: int) -> Post:
    """A post in ``staff``'s scope, with its page and translations; `NotFound` otherwise."""
    post = (
        await Post.filter(id=post_id)
        .select_related("page", "page__unit")
        .prefetch_related("translations", "attachments")
        .first()
    )
    if post is None:
        raise NotFound("not found")
    await scope.require_unit(staff, post.page.unit)
    return post


async def _audit(
    action: str, actor: Staff, post: Post, source: str, data: dict[str, Any] | None = None
) -> None:
    """One audit record about ``post`` (its page and unit loaded)."""
    await audit.record(
        action,
        actor=actor,
        object_type="post",
        object_id=post.id,
        unit_id=post.page.unit.id,
        source=source,
        data=data,
    )


async def _ask_approvers(post: Post, author: Staff, version: int) -> None:
    """Tell the supervisors over the page, in their bot, that the post waits for them."""
    approvers = await notices.approvers_of([post.page.unit], besides=author.id)
    await notices.notify(
        approvers,
        notices.POST_WAITING,
        f"post-waiting:{post.id}:{version}",
        id=post.id,
        page=post.page.title,
    )


async def _tell_author(post: Post, message: str, dedup: str, **params: str) -> None:
    author = await Staff.get_or_none(id=post.author_id, active=True)  # type: ignore[attr-defined]
    if author is not None:
        await notices.notify([author], message, dedup, id=str(post.id), **params)


async def _write_translations(post: Post, translations: Sequence[Translation]) -> None:
    await PostTranslation.filter(post_id=post.id).delete()
    await PostTranslation.bulk_create(
        [
            PostTranslation(post=post, locale=t.locale, title=t.title, body=t.body)
            for t in translations
        ]
    )


async def create_post(
    staff: Staff, page_id: int, data: PostInput, settings: Settings, *, source: str = "web"
) -> Post:
    """A new draft on ``page_id``, written by ``staff`` (who must have the page in scope)."""
    now = utcnow()
    page = await _page_in_scope(staff, page_id)
    valid = validate(data, settings, now)
    async with in_transaction(raw.connection(Post).connection_name):
        post = await Post.create(
            page=page,
            category=valid.category,
            author=staff,
            schedule_kind=valid.schedule,
            cron_expression=valid.cron,
            next_run_at=valid.at,
            expires_at=valid.expires_at,
            must_reach_every_household=valid.must_reach_every_household,
        )
        await _write_translations(post, valid.translations)
        post.page = page
        await _audit("post.created", staff, post, source, {"category": valid.category.value})
    return post


async def update_post(
    staff: Staff,
    post_id: int,
    data: PostInput,
    settings: Settings,
    *,
    version: int,
    source: str = "web",
) -> Post:
    """Edit a post that is not published yet. ``version`` is the one the editor read: a post
    changed since by someone else is a `Conflict`, not a silent overwrite. An approved post
    goes back for approval; a scheduled one keeps its place with the new time."""
    now = utcnow()
    post = await get_post(staff, post_id)
    valid = validate(data, settings, now)
    async with in_transaction(raw.connection(Post).connection_name):
        needs_approval = post.status in (PostStatus.SCHEDULED, PostStatus.PENDING_APPROVAL) and (
            _needs_approval(post.page, valid.category, staff)
        )
        status = post.status
        if status is PostStatus.SCHEDULED and needs_approval:
            status = PostStatus.PENDING_APPROVAL
        changed = await Post.filter(id=post.id, version=version, status__in=EDITABLE).update(
            category=valid.category,
            schedule_kind=valid.schedule,
            cron_expression=valid.cron,
            expires_at=valid.expires_at,
            must_reach_every_household=valid.must_reach_every_household,
            status=status,
            version=version + 1,
            updated_at=now,
            approved_by_id=None if needs_approval else post.approved_by_id,  # type: ignore[attr-defined]
            approved_at=None if needs_approval else post.approved_at,
        )
        if changed != 1:
            raise Conflict(_("the post was changed or published meanwhile; reload it"))
        if status is PostStatus.PENDING_APPROVAL and post.status is PostStatus.SCHEDULED:
            await _ask_approvers(post, staff, version + 1)
        post = await Post.get(id=post.id).select_related("page", "page__unit")
        post.schedule_kind, post.cron_expression = valid.schedule, valid.cron
        next_run = valid.at if valid.schedule is ScheduleKind.ONCE else None
        if post.status is PostStatus.SCHEDULED:
            next_run = _first_run(valid, settings, now)
        await Post.filter(id=post.id).update(next_run_at=next_run)
        await _write_translations(post, valid.translations)
        await _audit("post.edited", staff, post, source)
    return await get_post(staff, post.id)


def _needs_approval(page: Page, category: PostCategory, author: Staff) -> bool:
    return category.value in (page.approval_categories or []) and (
        author.role not in scope.APPROVER_ROLES
    )


async def submit_post(
    staff: Staff, post_id: int, settings: Settings, *, source: str = "web"
) -> Post:
    """Send a draft on its way: to the approval queue when the page's rules require it for its
    category, else straight to the schedule ("now" is published at the ticker's next tick)."""
    now = utcnow()
    post = await get_post(staff, post_id)
    if post.status is not PostStatus.DRAFT:
        raise Conflict(_("only a draft can be submitted"))
    if _needs_approval(post.page, post.category, staff):
        status, next_run = PostStatus.PENDING_APPROVAL, post.next_run_at
    else:
        status, next_run = PostStatus.SCHEDULED, _first_run(post, settings, now)
        if next_run is None:
            raise ValidationError(_("this schedule never comes"), field="cron_expression")
    changed = await Post.filter(id=post.id, status=PostStatus.DRAFT).update(
        status=status, next_run_at=next_run, version=post.version + 1, updated_at=now
    )
    if changed != 1:
        raise Conflict(_("the post changed meanwhile; reload it"))
    if status is PostStatus.PENDING_APPROVAL:
        await _ask_approvers(post, staff, post.version + 1)
    await _audit("post.submitted", staff, post, source, {"status": status.value})
    return await get_post(staff, post.id)


async def approve_post(
    approver: Staff, post_id: int, settings: Settings, *, source: str = "web"
) -> Post:
    """A supervisor with the page in scope approves a post waiting for it: it is scheduled.
    Nobody approves their own post."""
    now = utcnow()
    post = await get_post(approver, post_id)
    await scope.require_approver(approver, post.page.unit)
    if post.author_id == approver.id:  # type: ignore[attr-defined]
        raise PermissionDenied(_("a second person must approve a post"))
    if post.status is not PostStatus.PENDING_APPROVAL:
        raise Conflict(_("this post is not waiting for approval"))
    next_run = _first_run(post, settings, now)
    if next_run is None:
        raise ValidationError(_("this schedule never comes"), field="cron_expression")
    if post.schedule_kind is ScheduleKind.ONCE and next_run < now:
        next_run = now  # approved late: publish now rather than never
    changed = await Post.filter(id=post.id, status=PostStatus.PENDING_APPROVAL).update(
        status=PostStatus.SCHEDULED,
        approved_by_id=approver.id,
        approved_at=now,
        next_run_at=next_run,
        version=post.version + 1,
        updated_at=now,
    )
    if changed != 1:
        raise Conflict(_("the post changed meanwhile; reload it"))
    await _tell_author(post, notices.POST_APPROVED, f"post-approved:{post.id}:{post.version}")
    await _audit("post.approved", approver, post, source)
    return await get_post(approver, post.id)


async def reject_post(approver: Staff, post_id: int, reason: str, *, source: str = "web") -> Post:
    """Send a post waiting for approval back to its author as a draft, with the reason."""
    post = await get_post(approver, post_id)
    await scope.require_approver(approver, post.page.unit)
    reason = clean(reason)[:500]
    if not reason:
        raise ValidationError(_("say why the post is sent back"), field="reason")
    changed = await Post.filter(id=post.id, status=PostStatus.PENDING_APPROVAL).update(
        status=PostStatus.DRAFT, version=post.version + 1, updated_at=utcnow()
    )
    if changed != 1:
        raise Conflict(_("this post is not waiting for approval"))
    await _tell_author(
        post, notices.POST_REJECTED, f"post-rejected:{post.id}:{post.version}", reason=reason
    )
    await _audit("post.rejected", approver, post, source, {"reason": reason})
    return await get_post(approver, post.id)


async def cancel_post(staff: Staff, post_id: int, *, source: str = "web") -> Post:
    """Cancel a post that is not published yet (a recurring post stops recurring); a
    publication still sending is stopped too."""
    post = await get_post(staff, post_id)
    async with in_transaction(raw.connection(Post).connection_name):
        changed = await Post.filter(id=post.id, status__in=CANCELLABLE).update(
            status=PostStatus.CANCELLED, next_run_at=None, version=post.version + 1
        )
        if changed != 1:
            raise Conflict(_("this post is already published, cancelled or expired"))
        for publication in await Publication.filter(
            post_id=post.id, status=PublicationStatus.SENDING
        ):
            await _stop(publication, staff)
        await _audit("post.cancelled", staff, post, source)
    return await get_post(staff, post.id)


ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024  # Zalo's file limit; a photo for a cheap phone
ATTACHMENTS_MAX = 4
ATTACHMENT_TYPES = (*IMAGE_CONTENT_TYPES, PDF.content_type)


def media_store(settings: Settings) -> MediaStore:
    return MediaStore(settings.data_dir / "media")


async def add_attachment(
    staff: Staff,
    post_id: int,
    data: bytes,
    filename: str,
    settings: Settings,
    *,
    source: str = "web",
) -> PostAttachment:
    """Attach a photo or a PDF to a post that is not published yet. The kind is read from the
    bytes, never from the name; photos lose their metadata (place, camera) before storage."""
    post = await get_post(staff, post_id)
    if post.status not in EDITABLE:
        raise Conflict(_("a published post cannot change"))
    if len(post.attachments) >= ATTACHMENTS_MAX:
        raise ValidationError(
            _("a post has at most {limit} attachments"), field="file", limit=ATTACHMENTS_MAX
        )
    stored = await asyncio.to_thread(
        media_store(settings).save, data, allowed=ATTACHMENT_TYPES, max_bytes=ATTACHMENT_MAX_BYTES
    )
    stem = "".join(c for c in clean(filename).rsplit(".", 1)[0] if c.isalnum() or c in "-_")
    extension = stored.path.rsplit(".", 1)[1]
    attachment = await PostAttachment.create(
        post_id=post.id,
        kind=AttachmentKind.IMAGE
        if stored.content_type in IMAGE_CONTENT_TYPES
        else AttachmentKind.FILE,
        filename=f"{(stem or 'file')[:80]}.{extension}",
        content_type=stored.content_type,
        size_bytes=stored.size,
        sha256=stored.sha256,
        storage_path=stored.path,
        position=len(post.attachments),
    )
    await _audit(
        "post.attachment_added",
        staff,
        post,
        source,
        {"content_type": stored.content_type, "size": stored.size},
    )
    return attachment


async def public_attachment(attachment_id: int) -> PostAttachment:
    """An attachment anyone may download: its post is published (or is a recurring post that
    has been), on an active page. `NotFound` otherwise."""
    attachment = await PostAttachment.filter(
        id=attachment_id,
        post__status__in=(PostStatus.PUBLISHED, PostStatus.SCHEDULED, PostStatus.PUBLISHING),
        post__published_at__not_isnull=True,
        post__page__active=True,
    ).first()
    if attachment is None:
        raise NotFound("not found")
    return attachment


async def _stop(publication: Publication, staff: Staff | None) -> int:
    stopped = await outbox.cancel_publication(publication.id)
    await Publication.filter(id=publication.id).update(
        status=PublicationStatus.STOPPED,
        finished_at=utcnow(),
        stopped_by_id=staff.id if staff else None,
    )
    return stopped


async def stop_publication(
    staff: Staff, publication_id: int, *, post_id: int | None = None, source: str = "web"
) -> int:
    """A staff member stops a broadcast of a post in their scope (`halt_publication`); when
    ``post_id`` is given the publication must be that post's (else `NotFound`)."""
    publication = await Publication.filter(id=publication_id).select_related("post").first()
    if publication is None or post_id not in (None, publication.post.id):
        raise NotFound("not found")
    await get_post(staff, publication.post.id)
    return await halt_publication(publication_id, actor=staff, source=source)


_STOPPABLE = (PublicationStatus.FANNING_OUT, PublicationStatus.SENDING, PublicationStatus.DONE)


async def halt_publication(
    publication_id: int,
    *,
    actor: Staff | None = None,
    actor_label: str | None = None,
    source: str = "web",
) -> int:
    """Stop a broadcast mid-way: every delivery of it not yet sent is cancelled (a sender drops
    the rows it holds before its next send) and the publication is stopped. How many
    deliveries were cancelled. `Conflict` when it is already stopped, or done with nothing
    left to send."""
    publication = (
        await Publication.filter(id=publication_id).select_related("post", "post__page").first()
    )
    if publication is None:
        raise NotFound(_("no publication {publication}"), publication=publication_id)
    if publication.status is PublicationStatus.STOPPED:
        raise Conflict(
            _("publication {publication} is already stopped"), publication=publication_id
        )
    async with in_transaction(raw.connection(Publication).connection_name):
        cancelled = await outbox.cancel_publication(publication.id)
        if publication.status is PublicationStatus.DONE and not cancelled:
            raise Conflict(
                _("publication {publication} is done: nothing is left to send"),
                publication=publication_id,
            )
        stopped = await Publication.filter(id=publication.id, status__in=_STOPPABLE).update(
            status=PublicationStatus.STOPPED,
            finished_at=utcnow(),
            stopped_by_id=actor.id if actor else None,
        )
        if not stopped:  # stopped by someone else meanwhile: theirs is the record
            raise Conflict(
                _("publication {publication} is already stopped"), publication=publication_id
            )
        await audit.record(
            "publication.stopped",
            actor=actor,
            actor_label=actor_label,
            object_type="publication",
            object_id=publication.id,
            unit_id=publication.post.page.unit_id,  # type: ignore[attr-defined]
            source=source,
            data={"post": publication.post.id, "stopped": cancelled},
        )
    return cancelled


@dataclass(frozen=True)
class PublicationStats:
    """What happened to one publication's deliveries."""

    publication_id: int
    status: PublicationStatus
    occurrence_at: datetime
    recipients: int
    by_status: dict[str, int] = field(default_factory=dict)
    read: int = 0

    @property
    def queued(self) -> int:
        return self.by_status.get("pending", 0) + self.by_status.get("sending", 0)


async def publication_stats(staff: Staff, post_id: int) -> list[PublicationStats]:
    """Per-publication delivery figures of a post: queued, sent, failed (dead), unreachable,
    blocked by a platform quota, cancelled, and read where the platform reports reads."""
    post = await get_post(staff, post_id)
    publications = await Publication.filter(post_id=post.id).order_by("-occurrence_at", "-id")
    return [await stats_of(publication) for publication in publications]


async def stats_of(publication: Publication) -> PublicationStats:
    """One publication's figures (no scope check: callers check it)."""
    return PublicationStats(
        publication.id,
        publication.status,
        publication.occurrence_at,
        publication.recipients,
        await outbox.counts(publication.id),
        await publication.deliveries.filter(read_at__not_isnull=True).count(),
    )


class Publisher:
    """Turns due posts into publications and deliveries (the ticker's job), and renders a
    post as the message a follower receives."""

    def __init__(self, settings: Settings, i18n: I18n) -> None:
        self.settings = settings
        self.i18n = i18n

    async def publish_due(self, now: datetime | None = None, *, limit: int = 20) -> list[int]:
        """Publish every occurrence due at ``now`` that nobody has published; the new
        publications' ids."""
        now = now or utcnow()
        due = await (
            Post.filter(status=PostStatus.SCHEDULED, next_run_at__lte=now)
            .order_by("next_run_at", "id")
            .limit(limit)
        )
        published = []
        for post in due:
            publication_id = await self._publish(post, now)
            if publication_id is not None:
                published.append(publication_id)
        return published

    def _after(self, post: Post, occurrence: datetime, now: datetime) -> datetime | None:
        """The next occurrence of a recurring post, after both this one and ``now`` (missed
        occurrences are skipped), unless the post expires first."""
        if post.schedule_kind is not ScheduleKind.CRON or not post.cron_expression:
            return None
        upcoming = next_occurrence(post.cron_expression, max(occurrence, now), self.settings.tz)
        if upcoming is not None and post.expires_at is not None and upcoming >= post.expires_at:
            return None
        return upcoming

    async def _publish(self, post: Post, now: datetime) -> int | None:
        occurrence = post.next_run_at
        assert occurrence is not None  # selected by next_run_at <= now
        if post.expires_at is not None and post.expires_at <= now:
            await Post.filter(id=post.id, status=PostStatus.SCHEDULED).update(
                status=PostStatus.EXPIRED, next_run_at=None
            )
            return None
        upcoming = self._after(post, occurrence, now)
        async with in_transaction(raw.connection(Post).connection_name):
            # The claim: only the process whose UPDATE matches owns this occurrence.
            claimed = await Post.filter(
                id=post.id, status=PostStatus.SCHEDULED, next_run_at=occurrence
            ).update(
                status=PostStatus.SCHEDULED if upcoming else PostStatus.PUBLISHING,
                next_run_at=upcoming,
            )
            if claimed != 1:
                return None
            publication = await self._fan_out(post, occurrence, now)
            await Post.filter(id=post.id).update(
                published_at=now,
                **({} if upcoming else {"status": PostStatus.PUBLISHED}),
            )
        log.info("published post %s occurrence %s", post.id, occurrence.isoformat())
        return publication.id

    async def _fan_out(self, post: Post, occurrence: datetime, now: datetime) -> Publication:
        page = await Page.get(id=post.page_id).select_related("unit")  # type: ignore[attr-defined]
        translations = await PostTranslation.filter(post_id=post.id)
        attachments = await PostAttachment.filter(post_id=post.id).order_by("position", "id")
        messages = {
            locale: self.render(post, page, translations, attachments, locale)
            for locale in {page.default_locale, *(t.locale for t in translations)}
        }
        publication = await Publication.create(
            post_id=post.id,
            occurrence_at=occurrence,
            status=PublicationStatus.SENDING,
            messages={locale: message.to_payload() for locale, message in messages.items()},
        )
        relay = householdgroups.needs_relay(
            alert=post.alert_id is not None,  # type: ignore[attr-defined]
            must_reach_every_household=post.must_reach_every_household,
        )
        if relay:
            await add_relay_messages(publication, messages, self.i18n)
        kind = DeliveryKind.ALERT if post.alert_id else DeliveryKind.BROADCAST  # type: ignore[attr-defined]
        audience = Audience(
            publication_id=publication.id,
            page_id=page.id,
            unit_id=page.unit.id,
            category=post.category.value,
            kind=kind,
            dedup_prefix=f"pub:{publication.id}",
            default_locale=page.default_locale,
            locales=tuple(sorted(messages)),
            not_before=now,
            relay=relay,
        )
        recipients = await plan_audience(audience, messages, now, self.settings)
        publication.recipients = recipients
        await Publication.filter(id=publication.id).update(recipients=recipients)
        return publication

    def render(
        self,
        post: Post,
        page: Page,
        translations: Sequence[PostTranslation],
        attachments: Sequence[PostAttachment],
        locale: str,
    ) -> OutboundMessage:
        """The message a follower reading ``locale`` receives."""
        translation = pick_translation(translations, locale, page.default_locale)
        reader = translation.locale if translation else locale
        label = self.i18n.gettext(reader, POST_CATEGORY_LABELS[post.category.value])
        title = translation.title if translation else ""
        body = translation.body if translation else ""
        url = f"{self.settings.public_base_url}/p/{page.slug}#post-{post.id}"
        image = next((a for a in attachments if a.content_type.startswith("image/")), None)
        media = None
        if image is not None:
            media = Media(
                MediaKind.PHOTO,
                f"{self.settings.public_base_url}/media/{image.id}/{image.filename}",
                name=image.filename,
                mime_type=image.content_type,
                size=image.size_bytes,
            )
        files = [
            f"📎 {a.filename}: {self.settings.public_base_url}/media/{a.id}/{a.filename}"
            for a in attachments
            if a is not image
        ]
        parts = [f"[{label}] {title}", body, "\n".join(files), f"— {page.title}"]
        return OutboundMessage(
            text="\n\n".join(part for part in parts if part),
            buttons=((Button(self.i18n.gettext(reader, "Read on the web"), url, ButtonKind.URL),),),
            media=media,
        )

    async def expire(self, now: datetime | None = None) -> int:
        """Posts past their expiry: scheduled ones never go out, published ones leave the
        public page, and what is still queued of them is cancelled. How many posts."""
        now = now or utcnow()
        posts = await Post.filter(
            expires_at__lte=now,
            status__in=(PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PENDING_APPROVAL),
        ).values_list("id", flat=True)
        for post_id in posts:
            async with in_transaction(raw.connection(Post).connection_name):
                await Post.filter(id=post_id, expires_at__lte=now).update(
                    status=PostStatus.EXPIRED, next_run_at=None
                )
                for publication in await Publication.filter(
                    post_id=post_id, status=PublicationStatus.SENDING
                ):
                    await _stop(publication, None)
        return len(posts)

    async def finish_publications(self) -> int:
        """Publications with nothing left to send are done; how many finished now."""
        finished = 0
        for publication in await Publication.filter(status=PublicationStatus.SENDING):
            waiting = await publication.deliveries.filter(
                status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING)
            ).exists()
            if not waiting:
                finished += await Publication.filter(
                    id=publication.id, status=PublicationStatus.SENDING
                ).update(status=PublicationStatus.DONE, finished_at=utcnow())
        return finished


async def add_relay_messages(
    publication: Publication, messages: dict[str, OutboundMessage], i18n: I18n
) -> None:
    """Store the relay variants (`householdgroups.relay_messages`) next to the messages: they
    name the publication, so they are added once it exists."""
    publication.messages = {
        **publication.messages,
        **householdgroups.relay_messages(messages, publication.id, i18n),
    }
    await Publication.filter(id=publication.id).update(messages=publication.messages)


async def plan_audience(
    audience: Audience, messages: dict[str, OutboundMessage], now: datetime, settings: Settings
) -> int:
    """Plan one page's share of a publication: its followers (within the Zalo OA quotas) and
    its linked community groups. How many rows were planned."""
    account_ids = [
        int(row)  # type: ignore[call-overload]
        for row in await Page.filter(id=audience.page_id).values_list(
            "channels__channel_account_id", flat=True
        )
        if row is not None
    ]
    room = await fanout.promotion_room(audience.publication_id, account_ids, now, settings.tz)
    planned = await fanout.plan_followers(audience, now, room)
    planned += await fanout.plan_groups(audience, messages, account_ids)
    await fanout.note_quota_blocked(audience.publication_id, room)
    return planned
