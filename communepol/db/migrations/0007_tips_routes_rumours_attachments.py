from tortoise import migrations
from tortoise.migrations import operations as ops
from communepol.db.models.tips import AttachmentStatus, RumourVerdict
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('communepol', '0006_delivery_without_foreign_keys')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RumourCluster',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope_unit', fields.ForeignKeyField('communepol.Unit', source_field='scope_unit_id', db_constraint=True, to_field='id', related_name='rumour_clusters', on_delete=OnDelete.CASCADE)),
                ('fingerprint', fields.CharField(max_length=64)),
                ('normalized', fields.TextField(default='', unique=False)),
                ('verdict', fields.CharEnumField(null=True, description='TRUE: true\nFALSE: false\nMISLEADING: misleading\nUNVERIFIED: unverified', enum_type=RumourVerdict, max_length=12)),
                ('explanation', fields.TextField(null=True, unique=False)),
                ('decided_by', fields.ForeignKeyField('communepol.Staff', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='rumour_verdicts', on_delete=OnDelete.SET_NULL)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('post_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'rumour_cluster', 'app': 'communepol', 'unique_together': (('scope_unit', 'fingerprint'),), 'pk_attr': 'id', 'table_description': 'Forwards of one rumour within a province: the same normalised text (or the same image)'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TipRoute',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tip', fields.ForeignKeyField('communepol.Tip', source_field='tip_id', db_constraint=True, to_field='id', related_name='routes', on_delete=OnDelete.CASCADE)),
                ('unit', fields.ForeignKeyField('communepol.Unit', source_field='unit_id', db_constraint=True, to_field='id', related_name='tip_routes', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'tip_route', 'app': 'communepol', 'unique_together': (('tip', 'unit'),), 'pk_attr': 'id', 'table_description': 'A unit besides the home unit of a tip that receives it by a routing rule (the cyber desk'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='AliasVaultEntry',
            name='tipster_key',
            field=fields.CharField(default='', db_index=True, max_length=64),
        ),
        ops.AddField(
            model_name='Tip',
            name='details',
            field=fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Tip',
            name='rumour_cluster',
            field=fields.ForeignKeyField('communepol.RumourCluster', source_field='rumour_cluster_id', null=True, db_constraint=True, to_field='id', related_name='tips', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='TipAttachment',
            name='attempts',
            field=fields.SmallIntField(default=0),
        ),
        ops.AddField(
            model_name='TipAttachment',
            name='channel_account_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='TipAttachment',
            name='error',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='TipAttachment',
            name='source_sealed',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='TipAttachment',
            name='status',
            field=fields.CharEnumField(default=AttachmentStatus.STORED, description='PENDING: pending\nSTORED: stored\nFAILED: failed', enum_type=AttachmentStatus, max_length=8),
        ),
        ops.AddIndex(
            model_name='TipAttachment',
            index=Index(fields=['status', 'id'], name='tip_attachment_status_idx'),
        ),
    ]
