"""The one ``RetentionMark`` row exists from the start, so concurrent first purges lock it
instead of racing to create it."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def forwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("realtime", "RetentionMark").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("realtime", "0002_immutable_triggers")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
