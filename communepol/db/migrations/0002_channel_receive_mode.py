from tortoise import migrations
from tortoise.migrations import operations as ops
from communepol.db.models.channels import ReceiveMode
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('communepol', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ChannelAccount',
            name='receive_mode',
            field=fields.CharEnumField(default=ReceiveMode.WEBHOOK, description='WEBHOOK: webhook\nPOLLING: polling', enum_type=ReceiveMode, max_length=16),
        ),
    ]
