from tortoise import migrations
from tortoise.migrations import operations as ops
from communepol.db.models.outbox import DeliveryStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('communepol', '0002_channel_receive_mode')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Delivery',
            name='delivery_claim_idx',
            fields=None,
        ),
        ops.AlterField(
            model_name='Delivery',
            name='status',
            field=fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nSENDING: sending\nSENT: sent\nDEAD: dead\nUNREACHABLE: unreachable\nQUOTA_BLOCKED: quota_blocked\nCANCELLED: cancelled', enum_type=DeliveryStatus, max_length=16),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['channel_account_id', 'status', 'priority', 'not_before', 'id'], name='delivery_claim_idx'),
        ),
    ]
