"""The alias vault: the only place an anonymous tip is linked to a contact.

Every tip has an entry, anonymous or not, so replies and "my tips" work one way for both; an
anonymous tip has no other link to its contact. ``sealed`` holds ``{"contact_id": ...}``
sealed under the ``alias-vault`` key; no view, command, export or log opens it. Replies to
an anonymous tipster are relayed by the vault service. Revealing an identity is a separate,
audited `RevealRequest` with a stated reason and a second approver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.staff import Staff
    from communepol.db.models.tips import Tip


class AliasVaultEntry(Model):
    id = fields.IntField(primary_key=True)
    tip: fields.OneToOneRelation[Tip] = fields.OneToOneField(
        "communepol.Tip", related_name="vault_entry", on_delete=fields.CASCADE
    )
    sealed = fields.TextField()
    # The keyed hash of the tipster's contact: "my tips" finds a person's tips by it, and
    # "delete me" drops the entries; without the key it names nobody.
    tipster_key = fields.CharField(max_length=64, db_index=True, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alias_vault_entry"


class RevealRequest(Model):
    id = fields.IntField(primary_key=True)
    tip: fields.ForeignKeyRelation[Tip] = fields.ForeignKeyField(
        "communepol.Tip", related_name="reveal_requests", on_delete=fields.CASCADE
    )
    requested_by: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="reveal_requests", on_delete=fields.RESTRICT
    )
    reason = fields.TextField()
    approved_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "communepol.Staff", related_name="reveal_approvals", null=True, on_delete=fields.RESTRICT
    )
    decided_at = fields.DatetimeField(null=True)
    approved = fields.BooleanField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reveal_request"
