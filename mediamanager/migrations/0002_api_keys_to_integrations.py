"""The API key and idempotency tables now belong to `integrations` (its kernel). State only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("mediamanager", "0001_initial"),
        ("integrations", "0002_api_keys_from_mediamanager"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiKey"), migrations.DeleteModel(name="IdempotencyKey")],
            database_operations=[],
        ),
    ]
