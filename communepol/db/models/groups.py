"""Community groups: real Telegram/Zalo groups linked to a unit (school security officers,
coffee-shop owners, a village watch). They receive posts of chosen categories, are moderated by
rules, and a message in them can become a tip."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.channels import ChannelAccount
    from communepol.db.models.staff import Staff
    from communepol.db.models.tips import Tip
    from communepol.db.models.units import Unit


class GroupKind(StrEnum):
    VILLAGE_WATCH = "village_watch"
    SCHOOL_SECURITY = "school_security"
    BUSINESS_OWNERS = "business_owners"
    RESIDENTS = "residents"
    OTHER = "other"


class CommunityGroup(Model):
    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="community_groups", on_delete=fields.RESTRICT
    )
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "communepol.ChannelAccount", related_name="community_groups", on_delete=fields.CASCADE
    )
    chat_hash = fields.CharField(max_length=64)
    chat_sealed = fields.TextField()
    title = fields.CharField(max_length=200)
    kind = fields.CharEnumField(GroupKind, max_length=20, default=GroupKind.OTHER)
    # Post categories this group receives from its unit's pages.
    categories: list[str] = fields.JSONField(default=list)
    moderation_rules: dict[str, Any] = fields.JSONField(default=dict)
    active = fields.BooleanField(default=True)
    linked_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="groups_linked", null=True, on_delete=fields.SET_NULL
    )
    linked_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "community_group"
        unique_together = (("channel_account", "chat_hash"),)


class ModerationStatus(StrEnum):
    OK = "ok"
    FLAGGED = "flagged"
    REMOVED = "removed"


class GroupMessage(Model):
    id = fields.BigIntField(primary_key=True)
    group: fields.ForeignKeyRelation[CommunityGroup] = fields.ForeignKeyField(
        "communepol.CommunityGroup", related_name="messages", on_delete=fields.CASCADE
    )
    sender_hash = fields.CharField(max_length=64)
    platform_message_id = fields.CharField(max_length=128)
    text = fields.TextField(default="")
    moderation = fields.CharEnumField(ModerationStatus, max_length=8, default=ModerationStatus.OK)
    moderation_reason = fields.CharField(max_length=200, null=True)
    tip: fields.ForeignKeyNullableRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip", related_name="group_messages", null=True, on_delete=fields.SET_NULL
    )
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "group_message"
        indexes = (Index(fields=("group_id", "received_at"), name="group_message_time_idx"),)
