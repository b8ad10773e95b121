# One trial per customer per plan was keyed on the subscription's current plan, which an upgrade or
# downgrade changes: the trial's plan is now kept in its own column, which never changes.

import django.db.models.deletion
from django.db import migrations, models


def fill_trial_plan(apps, schema_editor):
    Subscription = apps.get_model("plans", "Subscription")
    Subscription.objects.filter(trial_start__isnull=False).update(trial_plan=models.F("plan"))


class Migration(migrations.Migration):

    dependencies = [
        ('plans', '0003_subscriptions'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscription',
            name='trial_plan',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='trial_subscriptions', to='plans.plan'),
        ),
        migrations.RemoveConstraint(
            model_name='subscription',
            name='subscription_one_trial_per_plan',
        ),
        migrations.AddConstraint(
            model_name='subscription',
            constraint=models.UniqueConstraint(condition=models.Q(('trial_plan__isnull', False)), fields=('customer', 'trial_plan'), name='subscription_one_trial_per_plan'),
        ),
        # Last: on PostgreSQL, rows updated before an index change in the same transaction would leave
        # pending FK trigger events that block it.
        migrations.RunPython(fill_trial_plan, migrations.RunPython.noop),
    ]
