"""Alerts: urgent posts for several pages or a unit subtree at once (missing person, a fraud
wave), with structured fields shaped after CAP 1.2, a two-person rule for alerts that span more
than one commune, and updates/cancellations that reach everyone the alert reached."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.pages import Page
    from communepol.db.models.staff import Staff
    from communepol.db.models.units import Unit


class AlertStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    CLOSED = "closed"  # resolved ("found") or cancelled
    EXPIRED = "expired"


class AlertMessageType(StrEnum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


class Alert(Model):
    id = fields.IntField(primary_key=True)
    identifier = fields.CharField(max_length=100, unique=True)
    issuing_unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="alerts", on_delete=fields.RESTRICT
    )
    references: fields.ForeignKeyNullableRelation[Alert] = fields.ForeignKeyField(
        "communepol.Alert", related_name="followups", null=True, on_delete=fields.SET_NULL
    )
    msg_type = fields.CharEnumField(AlertMessageType, max_length=8, default="Alert")
    status = fields.CharEnumField(AlertStatus, max_length=20, default=AlertStatus.DRAFT)
    category = fields.CharField(max_length=20)  # a PostCategory value
    urgency = fields.CharField(max_length=16, default="Immediate")  # CAP urgency
    severity = fields.CharField(max_length=16, default="Severe")  # CAP severity
    certainty = fields.CharField(max_length=16, default="Likely")  # CAP certainty
    headline = fields.CharField(max_length=300)
    description = fields.TextField(default="")
    instruction = fields.TextField(default="")
    subject_name = fields.CharField(max_length=200, null=True)
    subject_description = fields.TextField(null=True)
    last_seen_place = fields.CharField(max_length=300, null=True)
    last_seen_at = fields.DatetimeField(null=True)
    contact_phone = fields.CharField(max_length=20, null=True)
    photo_path = fields.CharField(max_length=500, null=True)
    created_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="alerts_created", null=True, on_delete=fields.SET_NULL
    )
    approved_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="alerts_approved", null=True, on_delete=fields.SET_NULL
    )
    approved_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alert"


class AlertTarget(Model):
    """What an alert was addressed to: a page, or a unit (with or without its subtree)."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "communepol.Alert", related_name="targets", on_delete=fields.CASCADE
    )
    unit: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="alert_targets", null=True, on_delete=fields.CASCADE
    )
    page: fields.ForeignKeyNullableRelation[Page] = fields.ForeignKeyField(
        "communepol.Page", related_name="alert_targets", null=True, on_delete=fields.CASCADE
    )
    include_subtree = fields.BooleanField(default=True)

    class Meta:
        table = "alert_target"
