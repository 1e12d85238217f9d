from tortoise import migrations
from tortoise.migrations import operations as ops

# A partial index (the same SQL on SQLite and PostgreSQL): only events still waiting are in it,
# in id order, so an insert appends to its last page and processed events leave it. The inbox
# claim's query repeats its WHERE clause word for word, which lets both planners use it.
WAITING_INDEX = (
    "CREATE INDEX inbound_waiting_idx ON inbound_event (id) "
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
        ops.RemoveIndex(
            model_name='InboundEvent',
            name='inbound_claim_idx',
            fields=None,
        ),
        ops.RunSQL(WAITING_INDEX, reverse_sql="DROP INDEX inbound_waiting_idx"),
    ]
