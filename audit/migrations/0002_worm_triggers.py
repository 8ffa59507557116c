"""WORM in the database: triggers reject UPDATE, DELETE (and TRUNCATE on PostgreSQL) on the
audit tables. Branches on the database vendor (PostgreSQL in production/CI, SQLite embedded).

Only the table owner (``ALTER TABLE ... DISABLE TRIGGER``) or a superuser can get around
this; the application code has no bypass. See docs/operations/audit.md.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from aventide.core.append_only import AppendOnlyTriggers

TRIGGERS = AppendOnlyTriggers(
    function="audit_worm_reject",
    suffix="worm",
    code="AUDIT_IMMUTABLE",
    reason="(audit records are append-only)",
    tables=("audit_event", "audit_seal"),
)
TABLES = TRIGGERS.tables
sqlite_forward = TRIGGERS.sqlite_forward
sqlite_backward = TRIGGERS.sqlite_backward
forward_statements = TRIGGERS.forward
backward_statements = TRIGGERS.backward


def forwards(apps: Any, schema_editor: Any) -> None:
    for sql in forward_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def backwards(apps: Any, schema_editor: Any) -> None:
    for sql in backward_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
