"""The sandbox's models moved to their own app (payments.gateways.sandbox, label `sandbox`),
which took over their tables: state only, nothing changes in the database."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0002_gateways_payments_invoices'),
        ('sandbox', '0001_initial'),
    ]

    operations = [migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
        migrations.RemoveField(
            model_name='sandboxcharge',
            name='card',
        ),
        migrations.RemoveField(
            model_name='sandboxrefund',
            name='charge',
        ),
        migrations.DeleteModel(
            name='SandboxCard',
        ),
        migrations.DeleteModel(
            name='SandboxCharge',
        ),
        migrations.DeleteModel(
            name='SandboxRefund',
        ),
    ])]
