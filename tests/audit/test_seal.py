"""seal_pending: Merkle seals chained by digest, idempotent, gap-aware, one sealer at a time."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from audit import integrity, merkle
from audit.models import GENESIS_DIGEST, Event, Seal
from audit.services import record, seal_pending
from audit.tasks import seal_audit_events


def _record_many(n: int, target: str = "order:1") -> list[Event]:
    return [record("order.touched", target, data={"i": i}, country_code="AR") for i in range(n)]


@pytest.mark.django_db
def test_seal_pending_seals_all_unsealed_events_into_one_chained_seal() -> None:
    events = _record_many(5)
    (seal,) = seal_pending()
    assert (seal.last_id, seal.count) == (events[-1].id, 5)
    assert seal.first_id == 1 and seal.first_id <= events[0].id
    assert seal.merkle_root == merkle.merkle_root([e.digest for e in events])
    assert seal.prev_seal_digest == GENESIS_DIGEST
    assert seal.digest == seal.compute_digest()
    more = _record_many(3)
    (second,) = seal_pending()
    assert (second.first_id, second.last_id, second.count) == (seal.last_id + 1, more[-1].id, 3)
    assert second.prev_seal_digest == seal.digest
    assert integrity.verify().ok


@pytest.mark.django_db
def test_seal_pending_is_idempotent() -> None:
    _record_many(3)
    assert len(seal_pending()) == 1
    assert seal_pending() == []
    assert seal_pending() == []
    assert Seal.objects.count() == 1


@pytest.mark.django_db
def test_seal_pending_with_nothing_recorded_creates_nothing() -> None:
    assert seal_pending() == []
    assert not Seal.objects.exists()


@pytest.mark.django_db
def test_seal_pending_splits_into_batches_in_id_order() -> None:
    events = _record_many(7)
    seals = seal_pending(batch_size=3)
    assert [s.count for s in seals] == [3, 3, 1]
    assert seals[-1].last_id == events[-1].id
    for prev, nxt in itertools.pairwise(seals):
        assert nxt.first_id == prev.last_id + 1
        assert nxt.prev_seal_digest == prev.digest
    report = integrity.verify()
    assert report.ok and (report.events, report.sealed_events, report.seals) == (7, 7, 3)


@pytest.mark.django_db
def test_seal_pending_max_seals_leaves_the_rest_for_the_next_run() -> None:
    _record_many(5)
    assert len(seal_pending(batch_size=2, max_seals=1)) == 1
    assert [s.count for s in seal_pending(batch_size=2)] == [2, 1]


@pytest.mark.django_db
def test_seal_pending_records_holes_left_by_rolled_back_inserts() -> None:
    first = record("a.b", "order:1")
    try:
        with transaction.atomic():
            record("a.b", "order:1")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    # a hole made explicit, as a rolled-back PostgreSQL insert leaves one
    last = Event(
        id=first.id + 5,
        occurred_at=timezone.now(),
        actor_type="system",
        actor_id="system",
        action="a.b",
        target_type="order",
        target_id="1",
    )
    last.save()
    (seal,) = seal_pending()
    assert seal.count == 2 and seal.last_id == last.id
    assert [first.id + 1, last.id - 1] in seal.gaps or [first.id + 2, last.id - 1] in seal.gaps
    assert integrity.verify().ok


@pytest.mark.django_db
def test_seal_audit_events_task_seals_and_is_scheduled_every_minute(settings: Any) -> None:
    _record_many(4)
    assert seal_audit_events.apply().get() == 4
    assert seal_audit_events.apply().get() == 0
    entry = settings.CELERY_BEAT_SCHEDULE["audit-seal-events"]
    assert entry["task"] == "audit.seal_audit_events"
    assert float(entry["schedule"]) == 60.0


# --- PostgreSQL: in-flight transactions and concurrent sealers ----------------------------


def _in_thread(target: Any, *args: Any) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seal_pending_waits_for_a_lower_id_still_in_flight() -> None:
    inserted, release = threading.Event(), threading.Event()
    in_flight: dict[str, int] = {}

    def slow_writer() -> None:
        with transaction.atomic():
            in_flight["id"] = record("order.slow", "order:1").id
            inserted.set()
            assert release.wait(30)

    thread = _in_thread(slow_writer)
    assert inserted.wait(30)
    later = record("order.fast", "order:2")  # committed, higher id
    assert later.id > in_flight["id"]
    try:
        assert seal_pending() == []  # must not seal past the open transaction's id
    finally:
        release.set()
        thread.join(30)
    (seal,) = seal_pending()
    assert seal.last_id == later.id and seal.count == 2
    report = integrity.verify()
    assert report.ok and report.sealed_events == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seal_pending_forces_an_old_gap_and_verify_names_the_late_event(settings: Any) -> None:
    settings.AUDIT_SEAL_MAX_GAP_WAIT_SECONDS = 0  # a transaction stuck "forever"
    inserted, release = threading.Event(), threading.Event()
    in_flight: dict[str, int] = {}

    def stuck_writer() -> None:
        with transaction.atomic():
            in_flight["id"] = record("order.slow", "order:1").id
            inserted.set()
            assert release.wait(30)

    thread = _in_thread(stuck_writer)
    assert inserted.wait(30)
    later = record("order.fast", "order:2")
    try:
        (seal,) = seal_pending()
        assert seal.last_id == later.id and seal.count == 1
        assert any(a <= in_flight["id"] <= b for a, b in seal.gaps)
    finally:
        release.set()
        thread.join(30)
    report = integrity.verify()
    assert not report.ok
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.id) == ("event", in_flight["id"])
    assert "gap of seal" in report.first_problem.message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_and_writers_build_one_consistent_chain() -> None:
    _record_many(50)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait(10)
            for i in range(40):
                with transaction.atomic():
                    record("order.touched", f"order:{n}", data={"i": i}, country_code="AR")
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    def sealer() -> None:
        try:
            start.wait(10)
            for _ in range(15):
                seal_pending(batch_size=7)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [_in_thread(writer, n) for n in range(2)] + [_in_thread(sealer) for _ in range(4)]
    for thread in threads:
        thread.join(60)
    assert errors == []
    seal_pending()
    seals = list(Seal.objects.order_by("id"))
    assert sum(s.count for s in seals) == Event.objects.count() == 130
    for prev, nxt in itertools.pairwise(seals):
        assert nxt.first_id == prev.last_id + 1
        assert nxt.prev_seal_digest == prev.digest
    report = integrity.verify()
    assert report.ok, report.problems
    assert (report.events, report.sealed_events) == (130, 130)
    assert connection.vendor == "postgresql"
