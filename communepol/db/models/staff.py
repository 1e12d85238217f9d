"""Staff: people on the police roster, their bot identities and their API tokens.

Only rostered staff can act as officers or supervisors. A staff member is bound to one unit
and sees that unit's whole subtree (supervisors) or the unit itself (officers). A bot identity
is linked only by a one-time link code (see `linkcodes`), never by a person claiming it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.channels import ChannelAccount
    from communepol.db.models.units import Unit


class Role(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Staff(Model):
    id = fields.IntField(primary_key=True)
    full_name = fields.CharField(max_length=200)
    phone = fields.CharField(max_length=20, null=True)
    username = fields.CharField(max_length=64, null=True, unique=True)
    password_hash = fields.CharField(max_length=255, null=True)
    # An initial password (given from the roster) must be replaced at the first sign-in and
    # stops working at ``password_expires_at`` if it never was (ASVS 6.4.1).
    password_must_change = fields.BooleanField(default=False)
    password_expires_at = fields.DatetimeField(null=True)
    totp_secret_sealed = fields.TextField(null=True)
    role = fields.CharEnumField(Role, max_length=16)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="staff", on_delete=fields.RESTRICT
    )
    locale = fields.CharField(max_length=8, default="vi")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    deactivated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff"

    def __str__(self) -> str:
        return self.full_name


class StaffIdentity(Model):
    """A bot identity (Telegram or Zalo user) that acts for a staff member."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="identities", on_delete=fields.CASCADE
    )
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "communepol.ChannelAccount", related_name="staff_identities", on_delete=fields.CASCADE
    )
    identity_hash = fields.CharField(max_length=64)
    identity_sealed = fields.TextField()
    linked_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_identity"
        unique_together = (("channel_account", "identity_hash"),)


class ApiToken(Model):
    """A personal REST API token. Only its hash is stored."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="api_tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
