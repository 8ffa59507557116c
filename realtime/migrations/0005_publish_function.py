"""``realtime_publish``: the whole publish -- ordering lock, the stream's previous event, the
event row and its inbox rows -- as one server-side call (PostgreSQL only; elsewhere the ORM
does it in ``realtime.services.publish``). Decision 0021.

The previous event is read after the lock with a snapshot of its own: the function is
VOLATILE, and in READ COMMITTED every statement of a VOLATILE function takes a fresh
snapshot, so every event of the stream published before this transaction got the lock is
committed and visible (the single-statement CTE could not do this: its snapshot predates the
lock, hence the second statement it needed before).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FUNCTION = "realtime_publish"

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION realtime_publish(
    p_lock bigint,
    p_stream varchar,
    p_type varchar,
    p_payload jsonb,
    p_country varchar,
    p_created_at timestamptz,
    p_audience varchar[],
    OUT o_event_id bigint,
    OUT o_prev_id bigint
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Publishing transactions commit in id order: the lock is taken before the id is drawn
    -- and held to the commit (decision 0014, section 2).
    PERFORM pg_advisory_xact_lock(p_lock);
    SELECT max(e.id) INTO o_prev_id FROM realtime_event e WHERE e.stream = p_stream;
    INSERT INTO realtime_event (stream, type, payload, country_code, created_at)
    VALUES (p_stream, p_type, p_payload, p_country, p_created_at)
    RETURNING id INTO o_event_id;
    INSERT INTO realtime_inboxentry (audience_key, event_id, stream)
    SELECT k, o_event_id, p_stream FROM unnest(p_audience) AS k;
END;
$$;
"""

SIGNATURE = f"{FUNCTION}(bigint, varchar, varchar, jsonb, varchar, timestamptz, varchar[])"


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE};", params=None)


class Migration(migrations.Migration):
    dependencies = [("realtime", "0004_push_subscriptions")]

    operations = [migrations.RunPython(forwards, backwards)]
