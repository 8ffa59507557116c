"""Messages are evidence: the database refuses UPDATE, DELETE and TRUNCATE on them.

A correction is a new message (staff or system), never an edit. Only the table owner
(``ALTER TABLE ... DISABLE TRIGGER``) can get around the triggers.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from aventide.core.append_only import AppendOnlyTriggers

TRIGGERS = AppendOnlyTriggers(
    function="messaging_message_worm_reject",
    suffix="worm",
    code="MESSAGE_IMMUTABLE",
    reason="(messages are evidence: write a new message instead)",
    tables=("messaging_message",),
)
sqlite_forward = TRIGGERS.sqlite_forward
sqlite_backward = TRIGGERS.sqlite_backward


def forwards(apps: Any, schema_editor: Any) -> None:
    for statement in TRIGGERS.forward(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)  # the SQL holds literal % signs


def backwards(apps: Any, schema_editor: Any) -> None:
    for statement in TRIGGERS.backward(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_conversations")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
