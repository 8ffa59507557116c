"""WORM in the database: triggers reject UPDATE, DELETE (and TRUNCATE on PostgreSQL) on the
audit tables. Branches on the database vendor (PostgreSQL in production/CI, SQLite embedded).

Only the table owner (``ALTER TABLE ... DISABLE TRIGGER``) or a superuser can get around
this; the application code has no bypass. See docs/operations/audit.md.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLES = ("audit_event", "audit_seal")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_worm_reject() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'AUDIT_IMMUTABLE: % on %.% is not allowed (audit records are append-only)',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def pg_forward(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_worm_row BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_worm_reject();",
        f"CREATE TRIGGER {table}_worm_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_worm_reject();",
    ]


def pg_backward(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_worm_row ON {table};",
        f"DROP TRIGGER IF EXISTS {table}_worm_truncate ON {table};",
    ]


def sqlite_forward(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_worm_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'AUDIT_IMMUTABLE: UPDATE on {table} is not allowed "
        "(audit records are append-only)'); END;",
        f"CREATE TRIGGER IF NOT EXISTS {table}_worm_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'AUDIT_IMMUTABLE: DELETE on {table} is not allowed "
        "(audit records are append-only)'); END;",
    ]


def sqlite_backward(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_worm_update;",
        f"DROP TRIGGER IF EXISTS {table}_worm_delete;",
    ]


def forward_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [PG_FUNCTION] + [s for t in TABLES for s in pg_forward(t)]
    if vendor == "sqlite":
        return [s for t in TABLES for s in sqlite_forward(t)]
    raise RuntimeError(f"audit WORM triggers are not implemented for {vendor!r}")


def backward_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [s for t in TABLES for s in pg_backward(t)] + [
            "DROP FUNCTION IF EXISTS audit_worm_reject();"
        ]
    if vendor == "sqlite":
        return [s for t in TABLES for s in sqlite_backward(t)]
    return []


def forwards(apps: Any, schema_editor: Any) -> None:
    for sql in forward_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def backwards(apps: Any, schema_editor: Any) -> None:
    for sql in backward_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
