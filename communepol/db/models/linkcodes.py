"""One-time link codes: how a bot identity becomes a staff member's, an account becomes a
household group's shared account, or one household's own account. Only a keyed hash of the
code is stored; a code works once (``used_at``) and expires (``expires_at``)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.households import Household, HouseholdGroup
    from communepol.db.models.staff import Staff


class LinkPurpose(StrEnum):
    STAFF = "staff"
    HOUSEHOLD_GROUP = "household_group"
    HOUSEHOLD = "household"  # a household's own account (it leaves its shared group)


class LinkCode(Model):
    id = fields.IntField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True)
    purpose = fields.CharEnumField(LinkPurpose, max_length=20)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="link_codes", null=True, on_delete=fields.CASCADE
    )
    household_group: fields.ForeignKeyNullableRelation[HouseholdGroup] = fields.ForeignKeyField(
        "communepol.HouseholdGroup", related_name="link_codes", null=True, on_delete=fields.CASCADE
    )
    household: fields.ForeignKeyNullableRelation[Household] = fields.ForeignKeyField(
        "communepol.Household", related_name="link_codes", null=True, on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="issued_link_codes", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "link_code"
