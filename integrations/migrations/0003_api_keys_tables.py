"""The tables taken over from `mediamanager` get this app's names."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_api_keys_from_mediamanager"),
        ("mediamanager", "0002_api_keys_to_integrations"),
    ]

    operations = [
        migrations.AlterModelTable(name="apikey", table=None),
        migrations.AlterModelTable(name="idempotencykey", table=None),
    ]
