"""Transactional tests can flush the WORM audit tables (test-only hook in tests/conftest.py),
and production code gains no bypass: outside the flush the triggers still reject DELETE."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import Event, Seal
from audit.services import record, seal_pending


@pytest.mark.django_db(transaction=True)
def test_flush_1_transactional_test_writes_audit_rows() -> None:
    record("order.created", "order:1", country_code="AR")
    record("order.paid", "order:1", country_code="AR")
    assert seal_pending()
    assert Event.objects.count() == 2 and Seal.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_flush_2_next_transactional_test_starts_empty_and_triggers_are_back() -> None:
    assert Event.objects.count() == 0
    assert Seal.objects.count() == 0
    record("order.created", "order:2", country_code="AR")
    with (
        pytest.raises(DatabaseError, match="AUDIT_IMMUTABLE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_event")
    assert Event.objects.count() == 1
