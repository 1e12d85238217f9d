"""Web sessions: server-side, so they can be revoked. The cookie carries a random token; the
row stores only its hash (``token_hash``). Idle and absolute timeouts are enforced against
``last_seen_at`` and ``expires_at``; deactivating a staff member revokes every row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.staff import Staff


class WebSession(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="sessions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    second_factor_at = fields.DatetimeField(null=True)
    ip = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "web_session"
        indexes = (Index(fields=("staff_id", "revoked_at"), name="web_session_staff_idx"),)
