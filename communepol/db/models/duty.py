"""Duty: which officers of a unit are on shift. A shift with no end is "on duty now"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.staff import Staff
    from communepol.db.models.units import Unit


class DutyShift(Model):
    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="shifts", on_delete=fields.CASCADE
    )
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="shifts", on_delete=fields.CASCADE
    )
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    handover_note = fields.TextField(null=True)

    class Meta:
        table = "duty_shift"
        indexes = (Index(fields=("unit_id", "ended_at"), name="duty_unit_open_idx"),)
