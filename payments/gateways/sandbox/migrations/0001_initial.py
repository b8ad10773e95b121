"""The sandbox's tables, which payments' migrations created, become this app's: state only, the
tables keep their names (Meta.db_table)."""

import django.db.models.deletion
import integrations.kernel.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("payments", "0002_gateways_payments_invoices"),
    ]

    operations = [migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
        migrations.CreateModel(
            name='SandboxCard',
            fields=[
                ('token', integrations.kernel.ids.PrefixedIdField(max_length=30, prefix='tok', primary_key=True, serialize=False)),
                ('publishable_key', models.CharField(db_index=True, max_length=64)),
                ('brand', models.CharField(max_length=20)),
                ('last4', models.CharField(max_length=4)),
                ('exp_month', models.PositiveSmallIntegerField()),
                ('exp_year', models.PositiveSmallIntegerField()),
                ('fingerprint', models.CharField(max_length=64)),
                ('behaviour', models.CharField(choices=[('succeed', 'Succeed'), ('auth_on_session', 'Auth On Session'), ('auth_always', 'Auth Always'), ('decline', 'Decline'), ('insufficient_funds', 'Insufficient Funds'), ('lost_card', 'Lost Card'), ('expired', 'Expired'), ('charge_fails', 'Charge Fails'), ('processing_error', 'Processing Error')], max_length=20)),
                ('mandate', models.BooleanField(default=False, help_text='Set up for off-session use by an authenticated payment.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'payments_sandboxcard',
            },
        ),
        migrations.CreateModel(
            name='SandboxCharge',
            fields=[
                ('id', integrations.kernel.ids.PrefixedIdField(max_length=29, prefix='ch', primary_key=True, serialize=False)),
                ('idempotency_key', models.CharField(max_length=255, unique=True)),
                ('amount', models.DecimalField(decimal_places=4, max_digits=19)),
                ('currency', models.CharField(max_length=3)),
                ('off_session', models.BooleanField(default=False)),
                ('status', models.CharField(choices=[('requires_action', 'Requires Action'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], max_length=16)),
                ('decline_code', models.CharField(blank=True, max_length=50)),
                ('return_url', models.CharField(blank=True, max_length=500)),
                ('amount_refunded', models.DecimalField(decimal_places=4, default=0, max_digits=19)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('card', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to='sandbox.sandboxcard')),
            ],
            options={
                'db_table': 'payments_sandboxcharge',
            },
        ),
        migrations.CreateModel(
            name='SandboxRefund',
            fields=[
                ('id', integrations.kernel.ids.PrefixedIdField(max_length=29, prefix='re', primary_key=True, serialize=False)),
                ('idempotency_key', models.CharField(max_length=255, unique=True)),
                ('amount', models.DecimalField(decimal_places=4, max_digits=19)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('charge', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='sandbox.sandboxcharge')),
            ],
            options={
                'db_table': 'payments_sandboxrefund',
            },
        ),
        migrations.AddConstraint(
            model_name='sandboxcharge',
            constraint=models.CheckConstraint(condition=models.Q(('amount_refunded__lte', models.F('amount'))), name='sandbox_refunds_within_amount'),
        ),
    ])]
