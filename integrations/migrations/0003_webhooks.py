"""Inbound webhook events (``WebhookEvent``), unique per (provider, event_id)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_jobs"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebhookEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("provider", models.CharField(max_length=40)),
                ("event_id", models.CharField(max_length=255)),
                ("event_type", models.CharField(max_length=100)),
                ("payload", models.JSONField(default=dict)),
                ("received_at", models.DateTimeField()),
                ("signed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("received", "received"),
                            ("processed", "processed"),
                            ("failed", "failed"),
                            ("ignored", "ignored"),
                        ],
                        db_index=True,
                        default="received",
                        max_length=16,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("processed_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.CharField(blank=True, default="", max_length=500)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["provider", "event_type"], name="integ_webhook_type_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("provider", "event_id"),
                        name="integrations_webhook_provider_event_uniq",
                    )
                ],
            },
        ),
    ]
