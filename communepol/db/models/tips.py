"""Tips: a resident's report, its thread, attachments and events, and the per-unit rules that
route it and set its deadlines.

An anonymous tip has no ``contact``: it carries only its ``alias`` ("Người báo tin #A7F3");
the alias → contact link lives sealed in the vault (`vault.AliasVaultEntry`), so nothing an
officer can read — rows, views, exports, logs — names the tipster. ``reference`` is the
non-sequential number the resident is given.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.contacts import Contact
    from communepol.db.models.households import Household
    from communepol.db.models.staff import Staff
    from communepol.db.models.units import Unit


class TipCategory(StrEnum):
    THEFT = "theft"  # trộm cắp, cướp
    DRUGS = "drugs"
    GAMBLING = "gambling"
    ILLEGAL_LENDING = "illegal_lending"  # tín dụng đen
    FIGHT_WEAPONS = "fight_weapons"
    FRAUD = "fraud"  # lừa đảo, lừa đảo qua mạng
    MISSING_PERSON = "missing_person"
    TRAFFIC = "traffic"
    PUBLIC_ORDER = "public_order"
    PROCEDURE_QUESTION = "procedure_question"
    RUMOUR_CHECK = "rumour_check"
    OTHER = "other"


class Urgency(StrEnum):
    CRITICAL = "critical"  # in progress now: a fight, a missing child
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class TipStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


OPEN_TIP_STATUSES = (TipStatus.NEW, TipStatus.ACKNOWLEDGED, TipStatus.IN_PROGRESS)


class Tip(Model):
    id = fields.IntField(primary_key=True)
    reference = fields.CharField(max_length=16, unique=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="tips", on_delete=fields.RESTRICT
    )
    category = fields.CharEnumField(TipCategory, max_length=20)
    urgency = fields.CharEnumField(Urgency, max_length=8, default=Urgency.NORMAL)
    status = fields.CharEnumField(TipStatus, max_length=16, default=TipStatus.NEW)
    anonymous = fields.BooleanField(default=False)
    alias = fields.CharField(max_length=64, null=True)
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "communepol.Contact", related_name="tips", null=True, on_delete=fields.SET_NULL
    )
    household: fields.ForeignKeyNullableRelation[Household] = fields.ForeignKeyField(
        "communepol.Household", related_name="tips", null=True, on_delete=fields.SET_NULL
    )
    about_whole_group = fields.BooleanField(default=False)
    source = fields.CharField(max_length=16, default="bot")
    text = fields.TextField()
    location_lat = fields.FloatField(null=True)
    location_lng = fields.FloatField(null=True)
    location_text = fields.CharField(max_length=300, null=True)
    assignee: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="tips_assigned", null=True, on_delete=fields.SET_NULL
    )
    duplicate_of: fields.ForeignKeyNullableRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip", related_name="duplicates", null=True, on_delete=fields.SET_NULL
    )
    outcome = fields.TextField(null=True)
    first_response_due_at = fields.DatetimeField(null=True)
    resolution_due_at = fields.DatetimeField(null=True)
    first_response_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    escalation_level = fields.SmallIntField(default=0)
    last_escalated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "tip"
        indexes = (
            Index(fields=("unit_id", "status"), name="tip_unit_status_idx"),
            Index(fields=("status", "first_response_due_at"), name="tip_first_due_idx"),
            Index(fields=("status", "resolution_due_at"), name="tip_resolution_due_idx"),
        )


class TipMessageDirection(StrEnum):
    FROM_RESIDENT = "from_resident"
    TO_RESIDENT = "to_resident"
    INTERNAL_NOTE = "internal_note"


class TipMessage(Model):
    """The thread of a tip: what the resident wrote, what officers replied, internal notes."""

    id = fields.IntField(primary_key=True)
    tip: fields.ForeignKeyRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip", related_name="messages", on_delete=fields.CASCADE
    )
    direction = fields.CharEnumField(TipMessageDirection, max_length=16)
    author: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="tip_messages", null=True, on_delete=fields.SET_NULL
    )
    text = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tip_message"


class TipAttachment(Model):
    """A photo, file or voice note. Images are stored with EXIF/GPS metadata stripped."""

    id = fields.IntField(primary_key=True)
    tip: fields.ForeignKeyRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip", related_name="attachments", on_delete=fields.CASCADE
    )
    message: fields.ForeignKeyNullableRelation[TipMessage] = fields.ForeignKeyField(
        "communepol.TipMessage",
        related_name="attachments",
        null=True,
        on_delete=fields.SET_NULL,
    )
    kind = fields.CharField(max_length=8)  # an AttachmentKind value
    content_type = fields.CharField(max_length=100)
    size_bytes = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    storage_path = fields.CharField(max_length=500)
    metadata_stripped = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tip_attachment"


class TipEvent(Model):
    """What happened to a tip and who did it, the source of response-time figures."""

    id = fields.IntField(primary_key=True)
    tip: fields.ForeignKeyRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=32)
    actor: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="tip_events", null=True, on_delete=fields.SET_NULL
    )
    data: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tip_event"
        indexes = (Index(fields=("tip_id", "created_at"), name="tip_event_time_idx"),)


class SlaPolicy(Model):
    """Deadlines per urgency for the tips of a unit. The policy of the nearest ancestor applies."""

    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="sla_policies", on_delete=fields.CASCADE
    )
    urgency = fields.CharEnumField(Urgency, max_length=8)
    first_response_minutes = fields.IntField()
    resolution_minutes = fields.IntField()
    escalation_repeat_minutes = fields.IntField(default=60)

    class Meta:
        table = "sla_policy"
        unique_together = (("unit", "urgency"),)


class RoutingRule(Model):
    """Within the subtree of ``scope_unit``, tips of ``category`` also go to ``target_unit``
    (for example fraud also goes to the cyber desk of the province)."""

    id = fields.IntField(primary_key=True)
    scope_unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="routing_rules", on_delete=fields.CASCADE
    )
    category = fields.CharEnumField(TipCategory, max_length=20)
    target_unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="routed_tips_rules", on_delete=fields.CASCADE
    )
    urgency = fields.CharEnumField(Urgency, max_length=8, null=True)

    class Meta:
        table = "routing_rule"
        unique_together = (("scope_unit", "category", "target_unit"),)
