"""The outbox without foreign-key constraints on PostgreSQL, and the two delivery indexes
SQLite lost.

1. Publishing to 350,000 followers is one INSERT … SELECT into ``delivery``; on PostgreSQL
   the five foreign-key checks per row (account, contact, group, publication, tip) were half
   of its time (3.9 s of 7.7 s, bench/README.md). The outbox is a queue written only by the
   services, which take the ids from the rows they reference; the one row that is ever
   deleted under it, an erased contact, has its deliveries deleted with it by
   `communepol.services.follows.purge_erased`, and a row whose contact is gone is skipped as
   unreachable by the dispatcher. So on PostgreSQL the constraints are dropped. On SQLite
   they stay: their checks are cheap there, and dropping them means rebuilding the table.
   The model fields say ``db_constraint=False``; the state changes alone, the database change
   is the operation below.
2. Migration 0003's AlterField rebuilt the SQLite table and recreated only the claim index:
   ``delivery_publication_idx`` and ``delivery_lease_idx`` were missing on SQLite.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

_REFERENCES = {
    "channel_account_id": ("channel_account", "CASCADE"),
    "contact_id": ("contact", "CASCADE"),
    "group_id": ("community_group", "CASCADE"),
    "publication_id": ("publication", "CASCADE"),
    "tip_id": ("tip", "SET NULL"),
}

_FOREIGN_KEYS = """
SELECT c.conname AS name
  FROM pg_constraint c
 WHERE c.conrelid = 'delivery'::regclass AND c.contype = 'f'
"""

_INDEXES = (
    "CREATE INDEX IF NOT EXISTS delivery_publication_idx ON delivery (publication_id, status)",
    "CREATE INDEX IF NOT EXISTS delivery_lease_idx ON delivery (status, lease_expires_at)",
)


class StateOnlyAlterField(ops.AlterField):
    """The model state changes; the database is changed by `DeliveryForeignKeys`."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class DeliveryForeignKeys(ops.RunSQL):
    """Drop (forward) or restore (backward) the delivery table's foreign keys, on PostgreSQL
    only; create the two missing indexes wherever they are missing."""

    def __init__(self) -> None:
        super().__init__(sql="", reverse_sql="")

    def describe(self) -> str:
        return "Drop the delivery table's foreign keys on PostgreSQL; restore two indexes"

    async def database_forward(self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None) -> None:
        if not state_editor:
            return
        client = state_editor.client
        for statement in _INDEXES:
            await client.execute_script(statement)
        if client.capabilities.dialect != "postgres":
            return
        for row in await client.execute_query_dict(_FOREIGN_KEYS):
            await client.execute_script(f'ALTER TABLE delivery DROP CONSTRAINT "{row["name"]}"')

    async def database_backward(self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None) -> None:
        if not state_editor:
            return
        client = state_editor.client
        if client.capabilities.dialect != "postgres":
            return
        for column, (table, action) in _REFERENCES.items():
            await client.execute_script(
                f"ALTER TABLE delivery ADD CONSTRAINT fk_delivery_{column} FOREIGN KEY ({column}) "
                f"REFERENCES {table} (id) ON DELETE {action}"
            )


def _fk(model: str, column: str, on_delete: OnDelete, *, null: bool = True) -> Any:
    return fields.ForeignKeyField(
        f"communepol.{model}",
        source_field=column,
        null=null,
        db_constraint=False,
        to_field="id",
        related_name="deliveries",
        on_delete=on_delete,
    )


class Migration(migrations.Migration):
    dependencies = [('communepol', '0005_quotas_erasure_publication_messages')]

    initial = False

    operations = [
        StateOnlyAlterField(
            model_name='Delivery',
            name='channel_account',
            field=_fk("ChannelAccount", "channel_account_id", OnDelete.CASCADE, null=False),
        ),
        StateOnlyAlterField(
            model_name='Delivery',
            name='contact',
            field=_fk("Contact", "contact_id", OnDelete.CASCADE),
        ),
        StateOnlyAlterField(
            model_name='Delivery',
            name='group',
            field=_fk("CommunityGroup", "group_id", OnDelete.CASCADE),
        ),
        StateOnlyAlterField(
            model_name='Delivery',
            name='publication',
            field=_fk("Publication", "publication_id", OnDelete.CASCADE),
        ),
        StateOnlyAlterField(
            model_name='Delivery',
            name='tip',
            field=_fk("Tip", "tip_id", OnDelete.SET_NULL),
        ),
        DeliveryForeignKeys(),
    ]
