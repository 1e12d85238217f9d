"""Contacts: one person-or-phone on one channel account, with language, consent and
reachability; possibly a shared household account standing for several households.

The platform user id and display name are never stored in clear: ``identity_hash`` (a keyed
hash, see `communepol.crypto.Keyring.identity_hash`) finds the contact, ``identity_sealed``
holds what is needed to send to them. A database dump therefore names no resident.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.channels import ChannelAccount


class ContactKind(StrEnum):
    PERSON = "person"
    SHARED_HOUSEHOLD = "shared_household"


class Reachability(StrEnum):
    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"  # blocked the bot, deactivated, unfollowed the OA
    RESTRICTED = "restricted"  # a platform window or quota forbids sending now


class Contact(Model):
    id = fields.IntField(primary_key=True)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "communepol.ChannelAccount", related_name="contacts", on_delete=fields.CASCADE
    )
    identity_hash = fields.CharField(max_length=64)
    identity_sealed = fields.TextField()
    kind = fields.CharEnumField(ContactKind, max_length=20, default=ContactKind.PERSON)
    locale = fields.CharField(max_length=8, null=True)
    reachability = fields.CharEnumField(Reachability, max_length=16, default=Reachability.REACHABLE)
    unreachable_reason = fields.CharField(max_length=200, null=True)
    last_inbound_at = fields.DatetimeField(null=True)
    last_inbound_message_id = fields.CharField(max_length=128, null=True)
    # "Delete me": everything about them is gone; the row stays only as the address of the
    # confirmation, and the ticker deletes it once nothing is waiting to be sent to it.
    erased_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contact"
        unique_together = (("channel_account", "identity_hash"),)


class ConsentPurpose(StrEnum):
    FOLLOW = "follow"  # receive a page's posts
    SHARED_ACCOUNT = "shared_account"  # a household agrees to be reached through a shared account
    DATA_PROCESSING = "data_processing"


class ConsentRecord(Model):
    """Append-only: each agree or withdraw, with the version of the text the person saw."""

    id = fields.IntField(primary_key=True)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "communepol.Contact", related_name="consents", on_delete=fields.CASCADE
    )
    purpose = fields.CharEnumField(ConsentPurpose, max_length=20)
    granted = fields.BooleanField()
    text_version = fields.CharField(max_length=32)
    locale = fields.CharField(max_length=8)
    household_id = fields.IntField(null=True)
    recorded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consent_record"


class ConversationState(Model):
    """Where a contact is in a bot conversation (survives restarts, one row per contact)."""

    id = fields.IntField(primary_key=True)
    contact: fields.OneToOneRelation[Contact] = fields.OneToOneField(
        "communepol.Contact", related_name="conversation", on_delete=fields.CASCADE
    )
    flow = fields.CharField(max_length=64)
    step = fields.CharField(max_length=64)
    data: dict[str, Any] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "conversation_state"
