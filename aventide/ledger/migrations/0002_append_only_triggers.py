"""Money rows are append-only in the database: transactions, entries and order snapshots.

A correction is a new, compensating transaction, never an edit. Triggers reject UPDATE and
DELETE (and TRUNCATE on PostgreSQL); only the table owner (``ALTER TABLE ... DISABLE
TRIGGER``) can get around them. Balance rows (``ledger_accountbalance``) stay updatable: they
are the locked running totals of the escrows.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from aventide.core.append_only import AppendOnlyTriggers

TRIGGERS = AppendOnlyTriggers(
    function="ledger_append_only_reject",
    suffix="append_only",
    code="LEDGER_IMMUTABLE",
    reason="(post a compensating transaction)",
    tables=("ledger_transaction", "ledger_entry", "ledger_ordersnapshot"),
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
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
