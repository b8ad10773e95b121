"""The first release let dj-stripe save our Stripe secret keys in djstripe_apikey, in clear, while it
processed webhooks. Our keys live encrypted on the gateway accounts and dj-stripe no longer stores
them (payments.gateways.stripe_mirror): the copies it kept are deleted."""

from django.db import migrations


def forget_secret_keys(apps, schema_editor):
    api_keys = apps.get_model("djstripe", "APIKey")
    api_keys.objects.exclude(type="publishable").delete()  # secret and restricted keys


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0004_refund_requested_at"),
        ("djstripe", "0003_2_11"),
    ]

    operations = [migrations.RunPython(forget_secret_keys, migrations.RunPython.noop)]
