from tortoise import migrations
from tortoise.migrations import operations as ops
from communepol.db.models.linkcodes import LinkPurpose
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('communepol', '0007_tips_routes_rumours_attachments')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='LinkCode',
            name='purpose',
            field=fields.CharEnumField(description='STAFF: staff\nHOUSEHOLD_GROUP: household_group\nHOUSEHOLD: household', enum_type=LinkPurpose, max_length=20),
        ),
        ops.AddField(
            model_name='LinkCode',
            name='household',
            field=fields.ForeignKeyField('communepol.Household', source_field='household_id', null=True, db_constraint=True, to_field='id', related_name='link_codes', on_delete=OnDelete.CASCADE),
        ),
    ]
