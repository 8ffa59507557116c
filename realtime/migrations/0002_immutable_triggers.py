"""Events and inbox rows are immutable in the database too: a trigger rejects UPDATE on both
tables (PostgreSQL: plpgsql; SQLite: BEFORE UPDATE). DELETE stays allowed -- the retention
purge (``realtime.services.purge_expired``) is the only code that deletes.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLES = ("realtime_event", "realtime_inboxentry")
FUNCTION = "realtime_immutable_reject"

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'REALTIME_EVENT_IMMUTABLE: % on %.% is not allowed (events are immutable)',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def forward_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [PG_FUNCTION] + [
            f"CREATE TRIGGER {t}_immutable BEFORE UPDATE ON {t} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();"
            for t in TABLES
        ]
    return [
        f"CREATE TRIGGER IF NOT EXISTS {t}_immutable BEFORE UPDATE ON {t} BEGIN "
        f"SELECT RAISE(ABORT, 'REALTIME_EVENT_IMMUTABLE: UPDATE on {t} is not allowed'); END;"
        for t in TABLES
    ]


def backward_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {t}_immutable ON {t};" for t in TABLES] + [
            f"DROP FUNCTION IF EXISTS {FUNCTION}();"
        ]
    return [f"DROP TRIGGER IF EXISTS {t}_immutable;" for t in TABLES]


def forwards(apps: Any, schema_editor: Any) -> None:
    for sql in forward_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def backwards(apps: Any, schema_editor: Any) -> None:
    for sql in backward_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("realtime", "0001_event_log")]

    operations = [migrations.RunPython(forwards, backwards)]
