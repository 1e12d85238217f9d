"""Households and shared household accounts.

A household belongs to a hamlet (a `Unit` of level hamlet). Where few people own a
smartphone, several households share one account: a `HouseholdGroup` whose representative is
a `Contact` of kind shared_household; each member household confirms separately
(``consent_confirmed_at``) and can leave (``removed_at``) or have its own contact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.contacts import Contact
    from communepol.db.models.staff import Staff
    from communepol.db.models.units import Unit


class Household(Model):
    id = fields.IntField(primary_key=True)
    hamlet: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="households", on_delete=fields.RESTRICT
    )
    head_name = fields.CharField(max_length=200)
    members_count = fields.SmallIntField(default=1)
    address = fields.CharField(max_length=300, default="")
    phone = fields.CharField(max_length=20, null=True)
    own_contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "communepol.Contact",
        related_name="own_households",
        null=True,
        on_delete=fields.SET_NULL,
    )
    created_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff",
        related_name="households_added",
        null=True,
        on_delete=fields.SET_NULL,
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "household"


class HouseholdGroup(Model):
    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="household_groups", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    representative: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "communepol.Contact",
        related_name="represented_groups",
        null=True,
        on_delete=fields.SET_NULL,
    )
    created_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff",
        related_name="household_groups_created",
        null=True,
        on_delete=fields.SET_NULL,
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    linked_at = fields.DatetimeField(null=True)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "household_group"


class HouseholdGroupMember(Model):
    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[HouseholdGroup] = fields.ForeignKeyField(
        "communepol.HouseholdGroup", related_name="members", on_delete=fields.CASCADE
    )
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "communepol.Household", related_name="group_memberships", on_delete=fields.CASCADE
    )
    added_at = fields.DatetimeField(auto_now_add=True)
    consent_confirmed_at = fields.DatetimeField(null=True)
    removed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "household_group_member"
        unique_together = (("group", "household"),)


class HouseholdRelayConfirmation(Model):
    """A shared account confirming "I have told this household" for one publication."""

    id = fields.IntField(primary_key=True)
    publication_id = fields.IntField()
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "communepol.Household", related_name="relay_confirmations", on_delete=fields.CASCADE
    )
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "communepol.Contact",
        related_name="relay_confirmations",
        null=True,
        on_delete=fields.SET_NULL,
    )
    confirmed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "household_relay_confirmation"
        unique_together = (("publication_id", "household"),)
