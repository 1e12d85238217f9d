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
    # Structured answers of the category's own questions (fraud: bank, amount, time, accounts).
    details: dict[str, Any] = fields.JSONField(default=dict)
    rumour_cluster: fields.ForeignKeyNullableRelation[RumourCluster] = fields.ForeignKeyField(
        "communepol.RumourCluster", related_name="tips", null=True, on_delete=fields.SET_NULL
    )
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


class TipRoute(Model):
    """A unit besides the home unit of a tip that receives it by a routing rule (the cyber desk
    of the province for fraud); its officers and supervisors see and act on the tip too."""

    id = fields.IntField(primary_key=True)
    tip: fields.ForeignKeyRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip", related_name="routes", on_delete=fields.CASCADE
    )
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="tip_routes", on_delete=fields.CASCADE
    )

    class Meta:
        table = "tip_route"
        unique_together = (("tip", "unit"),)


class RumourVerdict(StrEnum):
    TRUE = "true"
    FALSE = "false"
    MISLEADING = "misleading"
    UNVERIFIED = "unverified"


class RumourCluster(Model):
    """Forwards of one rumour within a province: the same normalised text (or the same image)
    from many residents. One verdict answers every tip of the cluster."""

    id = fields.IntField(primary_key=True)
    scope_unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="rumour_clusters", on_delete=fields.CASCADE
    )
    fingerprint = fields.CharField(max_length=64)
    normalized = fields.TextField(default="")
    verdict = fields.CharEnumField(RumourVerdict, max_length=12, null=True)
    explanation = fields.TextField(null=True)
    decided_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="rumour_verdicts", null=True, on_delete=fields.SET_NULL
    )
    decided_at = fields.DatetimeField(null=True)
    post_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rumour_cluster"
        unique_together = (("scope_unit", "fingerprint"),)


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


class AttachmentStatus(StrEnum):
    PENDING = "pending"  # still on the platform; the media fetcher downloads it
    STORED = "stored"  # in the media store, metadata stripped
    FAILED = "failed"  # could not be fetched (too large, gone); the reason is kept


class TipAttachment(Model):
    """A photo, file or voice note. Images are stored with EXIF/GPS metadata stripped.

    A resident's file is recorded at once as ``pending`` with the platform's reference sealed,
    and fetched outside the conversation's transaction by the media fetcher (`jobs`), so a slow
    platform never holds the database."""

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
    kind = fields.CharField(max_length=8)  # a MediaKind value
    content_type = fields.CharField(max_length=100, default="")
    size_bytes = fields.IntField(default=0)
    sha256 = fields.CharField(max_length=64, default="")
    storage_path = fields.CharField(max_length=500, default="")
    metadata_stripped = fields.BooleanField(default=False)
    status = fields.CharEnumField(AttachmentStatus, max_length=8, default=AttachmentStatus.STORED)
    channel_account_id = fields.IntField(null=True)
    source_sealed = fields.TextField(null=True)  # the platform's file reference, until fetched
    attempts = fields.SmallIntField(default=0)
    error = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tip_attachment"
        indexes = (Index(fields=("status", "id"), name="tip_attachment_status_idx"),)


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
