"""The integrations app's first migration: no tables (the outbox and the webhook events
come in the migrations that follow, one per topic)."""

from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations: list[migrations.operations.base.Operation] = []
