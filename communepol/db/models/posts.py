"""Posts: a page's content, its translations, attachments, schedule and approval; and the
publications (one per occurrence) that fan a post out to the outbox.

The schedule lives here, not in a scheduler's memory: ``next_run_at`` is the next time the
post is due (UTC) and the ticker claims due posts with one conditional UPDATE. Each occurrence
becomes one `Publication`, unique per (post, occurrence time), so a second process or a
restart can never publish the same occurrence twice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.alerts import Alert
    from communepol.db.models.outbox import Delivery
    from communepol.db.models.pages import Page
    from communepol.db.models.staff import Staff


class PostCategory(StrEnum):
    PROCEDURE = "procedure"  # thủ tục hành chính
    CRIME_WARNING = "crime_warning"
    FRAUD_WARNING = "fraud_warning"
    MISSING_PERSON = "missing_person"
    RUMOUR_CHECK = "rumour_check"
    HEALTH = "health"
    LEGAL = "legal"
    ANNOUNCEMENT = "announcement"


class PostStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ScheduleKind(StrEnum):
    NOW = "now"
    ONCE = "once"
    CRON = "cron"


class Post(Model):
    id = fields.IntField(primary_key=True)
    page: fields.ForeignKeyRelation[Page] = fields.ForeignKeyField(
        "communepol.Page", related_name="posts", on_delete=fields.CASCADE
    )
    category = fields.CharEnumField(PostCategory, max_length=20)
    status = fields.CharEnumField(PostStatus, max_length=20, default=PostStatus.DRAFT)
    author: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="posts_written", null=True, on_delete=fields.SET_NULL
    )
    approved_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="posts_approved", null=True, on_delete=fields.SET_NULL
    )
    approved_at = fields.DatetimeField(null=True)
    schedule_kind = fields.CharEnumField(ScheduleKind, max_length=8, default=ScheduleKind.NOW)
    cron_expression = fields.CharField(max_length=100, null=True)
    next_run_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    must_reach_every_household = fields.BooleanField(default=False)
    alert: fields.ForeignKeyNullableRelation[Alert] = fields.ForeignKeyField(
        "communepol.Alert", related_name="posts", null=True, on_delete=fields.SET_NULL
    )
    published_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    version = fields.IntField(default=1)

    translations: fields.ReverseRelation[PostTranslation]
    attachments: fields.ReverseRelation[PostAttachment]
    publications: fields.ReverseRelation[Publication]

    class Meta:
        table = "post"
        indexes = (
            Index(fields=("status", "next_run_at"), name="post_due_idx"),
            Index(fields=("page_id", "status"), name="post_page_status_idx"),
        )


class PostTranslation(Model):
    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "communepol.Post", related_name="translations", on_delete=fields.CASCADE
    )
    locale = fields.CharField(max_length=8)
    title = fields.CharField(max_length=300)
    body = fields.TextField()

    class Meta:
        table = "post_translation"
        unique_together = (("post", "locale"),)


class AttachmentKind(StrEnum):
    IMAGE = "image"
    FILE = "file"
    VOICE = "voice"
    VIDEO = "video"


class PostAttachment(Model):
    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "communepol.Post", related_name="attachments", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(AttachmentKind, max_length=8)
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size_bytes = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    storage_path = fields.CharField(max_length=500)
    position = fields.SmallIntField(default=0)

    class Meta:
        table = "post_attachment"


class PublicationStatus(StrEnum):
    FANNING_OUT = "fanning_out"
    SENDING = "sending"
    DONE = "done"
    STOPPED = "stopped"


class Publication(Model):
    """One occurrence of a post going out: the parent of its deliveries and their counters."""

    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "communepol.Post", related_name="publications", on_delete=fields.CASCADE
    )
    occurrence_at = fields.DatetimeField()
    status = fields.CharEnumField(
        PublicationStatus, max_length=16, default=PublicationStatus.FANNING_OUT
    )
    recipients = fields.IntField(default=0)
    # The message in each language, once: a follower's delivery row names only its language
    # (``{"from_publication": "vi"}``), so planning 350,000 rows does not copy the text 350,000
    # times. The dispatcher's claim puts the text back.
    messages: dict[str, Any] = fields.JSONField(default=dict)
    started_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)
    stopped_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff",
        related_name="publications_stopped",
        null=True,
        on_delete=fields.SET_NULL,
    )

    deliveries: fields.ReverseRelation[Delivery]

    class Meta:
        table = "publication"
        unique_together = (("post", "occurrence_at"),)
