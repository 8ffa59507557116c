"""Money rows are append-only in the database: transactions, entries and order snapshots.

A correction is a new, compensating transaction, never an edit. Triggers reject UPDATE and
DELETE (and TRUNCATE on PostgreSQL); only the table owner (``ALTER TABLE ... DISABLE
TRIGGER``) can get around them. Balance rows (``ledger_accountbalance``) stay updatable: they
are the locked running totals of the escrows.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLES = ("ledger_transaction", "ledger_entry", "ledger_ordersnapshot")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_append_only_reject() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'LEDGER_IMMUTABLE: % on %.% is not allowed (post a compensating transaction)',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def pg_forward(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_append_only_row BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only_reject();",
        f"CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only_reject();",
    ]


def pg_backward(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only_row ON {table};",
        f"DROP TRIGGER IF EXISTS {table}_append_only_truncate ON {table};",
    ]


def sqlite_forward(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: UPDATE on {table} is not allowed'); END;",
        f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: DELETE on {table} is not allowed'); END;",
    ]


def sqlite_backward(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only_update;",
        f"DROP TRIGGER IF EXISTS {table}_append_only_delete;",
    ]


def forwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [PG_FUNCTION] + [s for t in TABLES for s in pg_forward(t)]
    elif vendor == "sqlite":
        statements = [s for t in TABLES for s in sqlite_forward(t)]
    else:
        raise RuntimeError(f"ledger append-only triggers are not implemented for {vendor!r}")
    for statement in statements:
        schema_editor.execute(statement, params=None)  # the SQL holds literal % signs


def backwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [s for t in TABLES for s in pg_backward(t)]
        statements.append("DROP FUNCTION IF EXISTS ledger_append_only_reject();")
    elif vendor == "sqlite":
        statements = [s for t in TABLES for s in sqlite_backward(t)]
    else:
        statements = []
    for statement in statements:
        schema_editor.execute(statement, params=None)  # the SQL holds literal % signs


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
