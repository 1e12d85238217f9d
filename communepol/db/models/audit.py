"""Audit events: who did what, when (UTC), to what, from where. Append-only by convention of
the service layer (only `services.audit.record` writes, nothing updates or deletes); actor and
unit are plain ids, not foreign keys, so the trail outlives the rows it speaks of. It never
holds tip text, credentials or platform identities."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class AuditEvent(Model):
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    actor_staff_id = fields.IntField(null=True)
    actor_label = fields.CharField(max_length=200)
    action = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=32, null=True)
    object_id = fields.CharField(max_length=64, null=True)
    unit_id = fields.IntField(null=True)
    source = fields.CharField(max_length=16, default="system")  # web, api, bot, cli, system
    ip = fields.CharField(max_length=45, null=True)
    data: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_event"
        indexes = (
            Index(fields=("at",), name="audit_at_idx"),
            Index(fields=("unit_id", "at"), name="audit_unit_at_idx"),
            Index(fields=("actor_staff_id", "at"), name="audit_actor_at_idx"),
        )
