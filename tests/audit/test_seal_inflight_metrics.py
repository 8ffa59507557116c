"""The sealer's metrics name the exact ids of a hole it waits on or seals over (PostgreSQL).

On-call uses METRIC_AUDIT_SEAL_WAITING_GAP / METRIC_AUDIT_SEAL_GAP_FORCED to find the stuck
transaction: the ids must be the hole's, not one off.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connections, transaction

from audit.services import record, seal_pending

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _seal() -> list[Any]:
    return seal_pending()


def _record(action: str) -> int:
    return record(action, "order:1", country_code="AR").id


@contextmanager
def _in_flight_event() -> Iterator[int]:
    """An event inserted by a transaction that stays open until the block ends."""
    inserted, release, drawn = threading.Event(), threading.Event(), {}

    def writer() -> None:
        try:
            with transaction.atomic():
                drawn["id"] = _record("order.slow")
                inserted.set()
                release.wait(60)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert inserted.wait(60)
    try:
        yield drawn["id"]
    finally:
        release.set()
        thread.join(60)


def _baseline() -> None:
    """Seal what exists, so the next hole is exactly the in-flight id."""
    _record("order.first")
    assert len(_seal()) == 1


def test_seal_pending_waiting_metric_names_the_in_flight_id(json_logs) -> None:
    _baseline()
    with _in_flight_event() as in_flight:
        _record("order.fast")
        assert _seal() == []
    (waiting,) = json_logs.events("METRIC_AUDIT_SEAL_WAITING_GAP")
    assert (waiting["gapFirstId"], waiting["gapLastId"]) == (in_flight, in_flight)


def test_seal_pending_forced_metric_names_the_sealed_over_id(settings, json_logs) -> None:
    settings.AUDIT_SEAL_MAX_GAP_WAIT_SECONDS = 0
    _baseline()
    with _in_flight_event() as in_flight:
        _record("order.fast")
        (seal,) = _seal()
    assert seal.gaps == [[in_flight, in_flight]]
    (forced,) = json_logs.events("METRIC_AUDIT_SEAL_GAP_FORCED")
    assert (forced["gapFirstId"], forced["gapLastId"]) == (in_flight, in_flight)
    assert forced["sealId"] == seal.pk
