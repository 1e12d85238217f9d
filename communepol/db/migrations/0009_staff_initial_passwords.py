from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('communepol', '0008_household_link_codes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Staff',
            name='password_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Staff',
            name='password_must_change',
            field=fields.BooleanField(default=False),
        ),
    ]
