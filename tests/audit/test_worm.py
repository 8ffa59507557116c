"""WORM: audit rows cannot be changed or removed, neither by the ORM nor by raw SQL."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.utils import timezone

from audit.errors import AuditImmutable
from audit.models import Event, Seal
from audit.services import record, seal_pending

pytestmark = pytest.mark.django_db
WORM = importlib.import_module("audit.migrations.0002_worm_triggers")


@pytest.fixture
def sealed_event() -> tuple[Event, Seal]:
    event = record("order.created", "order:42", country_code="AR", data={"k": "v"})
    (seal,) = seal_pending()
    return event, seal


# --- ORM paths ---------------------------------------------------------------------------


def test_orm_save_of_an_existing_event_raises(sealed_event: tuple[Event, Seal]) -> None:
    event, seal = sealed_event
    event.action = "order.cancelled"
    with pytest.raises(AuditImmutable) as exc:
        event.save()
    assert exc.value.code == "AUDIT_IMMUTABLE"
    seal.count = 99
    with pytest.raises(AuditImmutable):
        seal.save()
    assert Event.objects.get(pk=event.pk).action == "order.created"


@pytest.mark.parametrize("model", [Event, Seal])
def test_orm_queryset_update_delete_and_bulk_update_raise(
    sealed_event: tuple[Event, Seal], model: Any
) -> None:
    qs = model.objects.all()
    with pytest.raises(AuditImmutable, match=r"update\(\)"):
        qs.update(digest="0" * 64)
    with pytest.raises(AuditImmutable, match=r"delete\(\)"):
        qs.delete()
    with pytest.raises(AuditImmutable, match=r"bulk_update\(\)"):
        model.objects.bulk_update(list(qs), ["digest"])
    with pytest.raises(AuditImmutable):
        model.objects.update_or_create(id=qs.first().pk, defaults={"digest": "x"})
    with pytest.raises(AuditImmutable, match=r"delete\(\)"):
        qs.first().delete()
    assert model.objects.count() == 1


def test_orm_save_with_force_update_or_update_fields_raises() -> None:
    event = Event(
        occurred_at=timezone.now(),
        actor_type="system",
        actor_id="system",
        action="x.y",
        target_type="t",
        target_id="1",
    )
    with pytest.raises(AuditImmutable):
        event.save(update_fields=["action"])
    with pytest.raises(AuditImmutable):
        event.save(force_update=True)
    assert not Event.objects.exists()


def test_orm_insert_computes_the_digest_even_without_record() -> None:
    event = Event(
        occurred_at=timezone.now(),
        actor_type="system",
        actor_id="system",
        action="x.y",
        target_type="t",
        target_id="1",
        data={"f": 1.5},
    )
    event.save()
    (bulk,) = Event.objects.bulk_create(
        [
            Event(
                occurred_at=timezone.now(),
                actor_type="s",
                actor_id="s",
                action="a",
                target_type="t",
                target_id="2",
            )
        ]
    )
    for row in Event.objects.all():
        assert row.digest and row.compute_digest() == row.digest
    assert bulk.digest


# --- raw SQL on the configured database ----------------------------------------------------


def _raw(sql: str, params: list[Any]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("table", "sql"),
    [
        ("audit_event", "UPDATE audit_event SET action = 'x' WHERE id = %s"),
        ("audit_event", "UPDATE audit_event SET data = '{}'::jsonb"),
        ("audit_event", "DELETE FROM audit_event WHERE id = %s"),
        ("audit_event", "TRUNCATE audit_event"),
        ("audit_seal", "UPDATE audit_seal SET merkle_root = 'x' WHERE id = %s"),
        ("audit_seal", "DELETE FROM audit_seal WHERE id = %s"),
        ("audit_seal", "TRUNCATE audit_seal"),
    ],
)
def test_postgres_raw_update_delete_truncate_raise(
    sealed_event: tuple[Event, Seal], table: str, sql: str
) -> None:
    event, seal = sealed_event
    row_id = event.pk if table == "audit_event" else seal.pk
    params = [row_id] if "%s" in sql else []
    with pytest.raises(DatabaseError, match="AUDIT_IMMUTABLE"):
        _raw(sql, params)
    assert Event.objects.filter(pk=event.pk, action="order.created").exists()
    assert Seal.objects.filter(pk=seal.pk, merkle_root=seal.merkle_root).exists()


@pytest.mark.parametrize(
    ("table", "sql"),
    [
        ("audit_event", "UPDATE audit_event SET action = 'x' WHERE id = %s"),
        ("audit_event", "DELETE FROM audit_event WHERE id = %s"),
        ("audit_event", "DELETE FROM audit_event"),
        ("audit_seal", "UPDATE audit_seal SET merkle_root = 'x' WHERE id = %s"),
        ("audit_seal", "DELETE FROM audit_seal WHERE id = %s"),
    ],
)
def test_sqlite_raw_update_delete_raise(
    sealed_event: tuple[Event, Seal], table: str, sql: str
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("configured database is not SQLite (see test_sqlite_triggers_in_a_scratch_db)")
    event, seal = sealed_event
    row_id = event.pk if table == "audit_event" else seal.pk
    params = [row_id] if "%s" in sql else []
    with pytest.raises(DatabaseError, match="AUDIT_IMMUTABLE"):
        _raw(sql, params)
    assert Event.objects.filter(pk=event.pk, action="order.created").exists()


# --- SQLite triggers, also when the suite runs on PostgreSQL (CI) --------------------------


@pytest.fixture
def scratch_sqlite(tmp_path: Path) -> Iterator[BaseDatabaseWrapper]:
    """A separate SQLite database with the audit tables and the migration's WORM triggers,
    so the SQLite triggers are tested even when the suite runs on PostgreSQL (CI)."""
    wrapper = SQLiteWrapper(
        {
            **connections["default"].settings_dict,
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(tmp_path / "audit_worm.sqlite3"),
            "OPTIONS": {},
            "HOST": "",
            "PORT": "",
            "USER": "",
            "PASSWORD": "",
            "CONN_MAX_AGE": 0,
            "TEST": {},
        },
        alias="audit_worm_scratch",
    )
    connections["audit_worm_scratch"] = wrapper  # transaction.atomic looks it up by alias
    try:
        with wrapper.schema_editor() as editor:
            editor.create_model(Event)
            editor.create_model(Seal)
            WORM.forwards(None, editor)
        yield wrapper
    finally:
        wrapper.close()
        del connections["audit_worm_scratch"]


def test_sqlite_triggers_in_a_scratch_db(scratch_sqlite: BaseDatabaseWrapper) -> None:
    with scratch_sqlite.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_event (occurred_at, actor_type, actor_id, actor_level, "
            "country_code, action, target_type, target_id, request_id, data, digest) "
            "VALUES ('2026-01-01 00:00:00', 's', 's', '', 'AR', 'a', 't', '1', '', '{}', 'd')"
        )
        cursor.execute(
            "INSERT INTO audit_seal (first_id, last_id, count, merkle_root, prev_seal_digest, "
            "gaps, digest, created_at) VALUES (1, 1, 1, 'r', '', '[]', 'd', '2026-01-01')"
        )
        for sql in (
            "UPDATE audit_event SET action = 'x'",
            "DELETE FROM audit_event",
            "UPDATE audit_seal SET merkle_root = 'x'",
            "DELETE FROM audit_seal",
        ):
            with pytest.raises((sqlite3.IntegrityError, DatabaseError), match="AUDIT_IMMUTABLE"):
                cursor.execute(sql)
        cursor.execute("SELECT action FROM audit_event")
        assert cursor.fetchall() == [("a",)]
        cursor.execute("SELECT count(*) FROM audit_seal")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        assert [r[0] for r in cursor.fetchall()] == [
            "audit_event_worm_delete",
            "audit_event_worm_update",
            "audit_seal_worm_delete",
            "audit_seal_worm_update",
        ]
