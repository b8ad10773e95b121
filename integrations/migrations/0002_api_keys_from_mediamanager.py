"""The kernel takes over the API key and idempotency tables from `mediamanager` (the top package,
which no app may import). State only here: the tables stay as they are until 0003 renames them."""

from django.db import migrations, models

import integrations.kernel.ids


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
        ("mediamanager", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiKey",
                    fields=[
                        (
                            "id",
                            integrations.kernel.ids.PrefixedIdField(
                                max_length=30, prefix="key", primary_key=True, serialize=False
                            ),
                        ),
                        ("name", models.CharField(max_length=100)),
                        (
                            "prefix",
                            models.CharField(help_text="The key's first characters, to recognise it.", max_length=16),
                        ),
                        ("key_hash", models.CharField(max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"verbose_name": "API key", "ordering": ["-created_at"], "db_table": "mediamanager_apikey"},
                ),
                migrations.CreateModel(
                    name="IdempotencyKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        (
                            "credential",
                            models.CharField(help_text="SHA-256 of the credential that sent it.", max_length=64),
                        ),
                        ("key", models.CharField(max_length=255)),
                        ("request_hash", models.CharField(help_text="SHA-256 of method, path and body.", max_length=64)),
                        (
                            "state",
                            models.CharField(
                                choices=[("in_flight", "In Flight"), ("done", "Done")],
                                default="in_flight",
                                max_length=10,
                            ),
                        ),
                        ("status_code", models.PositiveSmallIntegerField(null=True)),
                        ("content_type", models.CharField(blank=True, max_length=100)),
                        ("body", models.BinaryField(null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                    ],
                    options={
                        "db_table": "mediamanager_idempotencykey",
                        "constraints": [
                            models.UniqueConstraint(fields=("credential", "key"), name="idempotency_key_unique")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
