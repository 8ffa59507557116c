"""Seal gap bookkeeping is exact: no gap for an unbroken run of ids, exact bounds for a hole.

``audit verify`` trusts ``Seal.gaps`` to tell a permanently missing id from a deleted event,
so an off-by-one there either hides a deletion or reports one that never happened. Holes are
made explicit (an event inserted with a later id), as a rolled-back insert leaves one.
"""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from audit import integrity
from audit.models import Event, Seal
from audit.services import record, seal_pending

pytestmark = pytest.mark.django_db


# --- the service calls (one place each) -----------------------------------------------------


def _record(n: int = 1) -> list[Event]:
    return [record("order.touched", "order:1", data={"i": i}, country_code="AR") for i in range(n)]


def _seal(**kwargs: int) -> list[Seal]:
    return seal_pending(**kwargs)


def _event_with_id(event_id: int) -> Event:
    """An event committed after a hole (ids before it were drawn and never committed)."""
    event = Event(
        id=event_id,
        occurred_at=timezone.now(),
        actor_type="system",
        actor_id="system",
        action="order.touched",
        target_type="order",
        target_id="1",
    )
    event.save()
    return event


def _baseline() -> Seal:
    """Seal whatever exists first, so the next seal starts right after a known id."""
    (first,) = _record()
    (seal,) = _seal()
    # ids drawn before this test (other tests' rolled-back rows) are one leading gap, exactly
    assert seal.gaps == ([[1, first.id - 1]] if first.id > 1 else [])
    assert seal.last_id == first.id
    return seal


def test_seal_pending_an_unbroken_batch_has_no_gaps() -> None:
    base = _baseline()
    events = _record(4)
    (seal,) = _seal()
    assert seal.gaps == []
    assert (seal.first_id, seal.last_id, seal.count) == (base.last_id + 1, events[-1].id, 4)
    assert integrity.verify().ok


def test_seal_pending_unbroken_batches_have_no_gaps() -> None:
    base = _baseline()
    events = _record(5)
    seals = _seal(batch_size=2)
    assert [s.gaps for s in seals] == [[], [], []]
    assert [(s.first_id, s.last_id) for s in seals] == [
        (base.last_id + 1, events[1].id),
        (events[2].id, events[3].id),
        (events[4].id, events[4].id),
    ]
    for prev, nxt in itertools.pairwise(seals):
        assert nxt.first_id == prev.last_id + 1


def test_seal_pending_records_the_exact_bounds_of_a_hole() -> None:
    _baseline()
    (before,) = _record()
    after = _event_with_id(before.id + 4)  # ids before+1 .. before+3 never committed
    (seal,) = _seal()
    assert seal.gaps == [[before.id + 1, before.id + 3]]
    assert (seal.first_id, seal.last_id, seal.count) == (before.id, after.id, 2)
    report = integrity.verify()
    assert report.ok and report.sealed_events == report.events


def test_seal_pending_records_a_one_id_hole_and_a_hole_at_the_start() -> None:
    base = _baseline()
    first = _event_with_id(base.last_id + 3)  # hole right at the start of the batch
    second = _event_with_id(first.id + 2)  # a hole of exactly one id
    (seal,) = _seal()
    assert seal.gaps == [[base.last_id + 1, base.last_id + 2], [first.id + 1, first.id + 1]]
    assert (seal.first_id, seal.last_id, seal.count) == (base.last_id + 1, second.id, 2)
    assert integrity.verify().ok
