from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('communepol', '0004_inbound_waiting_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ChannelAccount',
            name='monthly_promotion_quota',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Contact',
            name='erased_at',
            field=fields.DatetimeField(null=True),
        ),
        ops.AddField(
            model_name='Publication',
            name='messages',
            field=fields.JSONField(default=dict),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['channel_account_id', 'platform_message_id'], name='delivery_message_idx'),
        ),
    ]
