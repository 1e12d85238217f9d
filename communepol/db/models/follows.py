"""Follows: a contact following a page. Stopping takes effect before the next send: the
dispatcher checks ``status`` at send time, not only when the broadcast was planned."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.contacts import Contact
    from communepol.db.models.pages import Page


class FollowStatus(StrEnum):
    PENDING_CONSENT = "pending_consent"
    ACTIVE = "active"
    STOPPED = "stopped"


class Follow(Model):
    id = fields.IntField(primary_key=True)
    page: fields.ForeignKeyRelation[Page] = fields.ForeignKeyField(
        "communepol.Page", related_name="follows", on_delete=fields.CASCADE
    )
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "communepol.Contact", related_name="follows", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(FollowStatus, max_length=20)
    source = fields.CharField(max_length=32, default="bot")
    followed_at = fields.DatetimeField(auto_now_add=True)
    stopped_at = fields.DatetimeField(null=True)

    class Meta:
        table = "follow"
        unique_together = (("page", "contact"),)
        indexes = (Index(fields=("page_id", "status"), name="follow_page_status_idx"),)
