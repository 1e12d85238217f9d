"""The inbox: every inbound platform event, stored durably before the webhook answers 200.

``(channel_account, platform_event_id)`` is unique, so a replay or a concurrent duplicate is
stored once. ``payload_sealed`` is the raw event sealed under the ``inbox`` key — raw bodies
carry platform identities and tip text, so they are never kept or logged in clear.
``contact_key`` (the contact's identity hash) lets the worker process events in order per
contact; a failing event is retried with backoff, then parked with its error for staff.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.channels import ChannelAccount


class InboundStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"  # will be retried at not_before
    PARKED = "parked"  # gave up; shown to staff with its error


class InboundEvent(Model):
    id = fields.BigIntField(primary_key=True)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "communepol.ChannelAccount", related_name="inbound_events", on_delete=fields.CASCADE
    )
    platform_event_id = fields.CharField(max_length=128)
    event_kind = fields.CharField(max_length=64)
    contact_key = fields.CharField(max_length=64, null=True)
    payload_sealed = fields.TextField()
    status = fields.CharEnumField(InboundStatus, max_length=16, default=InboundStatus.PENDING)
    attempts = fields.SmallIntField(default=0)
    not_before = fields.DatetimeField()
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbound_event"
        unique_together = (("channel_account", "platform_event_id"),)
        # Waiting events are found through ``inbound_waiting_idx``, a partial index on id over
        # the pending, processing and failed rows only (migration 0004, raw SQL: Tortoise's
        # Index has no WHERE). New events are appended to it and processed ones leave it, so
        # it stays small and an insert touches its last page only.
