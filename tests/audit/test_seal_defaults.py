"""seal_pending's documented defaults: 10 000 events per seal, at most 100 seals per run."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import Event, Seal
from audit.services import seal_pending

pytestmark = pytest.mark.django_db


def _seal(**kwargs: int) -> list[Seal]:
    return seal_pending(**kwargs)


def _bulk_events(n: int) -> None:
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            occurred_at=now,
            actor_type="system",
            actor_id="system",
            action="order.touched",
            target_type="order",
            target_id=str(i),
        )
        for i in range(n)
    )


def test_seal_pending_seals_10000_events_per_seal_by_default() -> None:
    _bulk_events(10_001)
    seals = _seal()
    assert [s.count for s in seals] == [10_000, 1]
    assert seals[1].first_id == seals[0].last_id + 1


def test_seal_pending_makes_at_most_100_seals_per_run_by_default() -> None:
    _bulk_events(101)
    assert len(_seal(batch_size=1)) == 100
    assert [s.count for s in _seal(batch_size=1)] == [1]
    assert Seal.objects.count() == 101
