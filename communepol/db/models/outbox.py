"""The outbox: every outbound message — a reply, an officer notification, a broadcast, an
alert — is one `Delivery` row before anything is sent.

``dedup_key`` is unique, so planning the same message twice stores it once. The dispatcher
claims rows by (channel account, status, priority, not_before) — the ``delivery_claim_idx``
index — with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, takes a lease (``lease_owner``,
``lease_expires_at``) and writes the outcome. ``payload`` is the channel-neutral message; the
recipient's platform id is read from the sealed contact at send time, never copied here.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.channels import ChannelAccount
    from communepol.db.models.contacts import Contact
    from communepol.db.models.groups import CommunityGroup
    from communepol.db.models.posts import Publication
    from communepol.db.models.tips import Tip


class DeliveryKind(StrEnum):
    REPLY = "reply"
    NOTIFICATION = "notification"
    BROADCAST = "broadcast"
    ALERT = "alert"


class Priority(IntEnum):
    """Lower is sent first: a person waiting for an answer, then the officer who must act,
    then an urgent alert, then a scheduled broadcast."""

    REPLY = 0
    NOTIFICATION = 1
    ALERT = 2
    BROADCAST = 3
    NORMAL = 1  # alias of NOTIFICATION, named by migration 0001


PRIORITY_OF_KIND = {
    DeliveryKind.REPLY: Priority.REPLY,
    DeliveryKind.NOTIFICATION: Priority.NOTIFICATION,
    DeliveryKind.ALERT: Priority.ALERT,
    DeliveryKind.BROADCAST: Priority.BROADCAST,
}


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at not_before; a retry is pending again, with its last_error
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"  # gave up; visible to staff, can be retried by hand
    UNREACHABLE = "unreachable"  # blocked, deactivated, unfollowed
    QUOTA_BLOCKED = "quota_blocked"  # a platform quota or window forbids it
    CANCELLED = "cancelled"  # stopped broadcast, withdrawn consent


class Delivery(Model):
    id = fields.BigIntField(primary_key=True)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "communepol.ChannelAccount",
        related_name="deliveries",
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "communepol.Contact",
        related_name="deliveries",
        null=True,
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    group: fields.ForeignKeyNullableRelation[CommunityGroup] = fields.ForeignKeyField(
        "communepol.CommunityGroup",
        related_name="deliveries",
        null=True,
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    kind = fields.CharEnumField(DeliveryKind, max_length=16)
    priority = fields.SmallIntField(default=Priority.NOTIFICATION)
    dedup_key = fields.CharField(max_length=200, unique=True)
    payload: dict[str, Any] = fields.JSONField()
    publication: fields.ForeignKeyNullableRelation[Publication] = fields.ForeignKeyField(
        "communepol.Publication",
        related_name="deliveries",
        null=True,
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    tip: fields.ForeignKeyNullableRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip",
        related_name="deliveries",
        null=True,
        on_delete=fields.SET_NULL,
        db_constraint=False,
    )
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.SmallIntField(default=0)
    not_before = fields.DatetimeField()
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    platform_message_id = fields.CharField(max_length=128, null=True)
    last_error = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery"
        indexes = (
            Index(
                # id last: a broadcast's rows share priority and not_before, and the claim's
                # ORDER BY ... id LIMIT must be read off the index, not sorted.
                fields=("channel_account_id", "status", "priority", "not_before", "id"),
                name="delivery_claim_idx",
            ),
            Index(fields=("publication_id", "status"), name="delivery_publication_idx"),
            Index(fields=("status", "lease_expires_at"), name="delivery_lease_idx"),
            # A platform's read receipt names the message it sent back to us.
            Index(
                fields=("channel_account_id", "platform_message_id"), name="delivery_message_idx"
            ),
        )
