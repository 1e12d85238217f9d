from tortoise import migrations
from tortoise.migrations import operations as ops

# A partial index (same SQL on SQLite and PostgreSQL): only unprocessed events are in it, so it
# stays a few pages however large the inbox grows. The inbox claim's NOT EXISTS repeats its
# WHERE clause word for word, which is what lets both planners use it.
WAITING_INDEX = (
    "CREATE INDEX inbound_waiting_idx ON inbound_event (channel_account_id, contact_key, id) "
    "WHERE status IN ('pending', 'processing', 'failed')"
)


class Migration(migrations.Migration):
    dependencies = [('communepol', '0003_delivery_claim_index')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='InboundEvent',
            name='inbound_order_idx',
            fields=None,
        ),
        ops.RunSQL(WAITING_INDEX, reverse_sql="DROP INDEX inbound_waiting_idx"),
    ]
