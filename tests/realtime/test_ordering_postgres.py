"""Publishing transactions commit in cursor order (PostgreSQL advisory lock): while one
publishing transaction is open, a second one cannot draw a later id and commit first -- so
a reader never sees event N while an event < N is still to come (no gap behind a cursor)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from aventide.core.principal import Principal, PrincipalKind
from realtime import selectors, services
from tests.concurrency import WAIT, waiting_on_locks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

READER = Principal(kind=PrincipalKind.USER, id="1")


def _publish(stream: str) -> int:
    return services.publish(
        stream=stream, type="order.status_changed", payload={}, audience=["user:1"]
    )


def test_a_later_publisher_waits_for_the_open_one_and_gets_the_later_cursor() -> None:
    published_a, release_a, done_b = threading.Event(), threading.Event(), threading.Event()
    ids: dict[str, int] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                ids["a"] = _publish("order:1")
                published_a.set()
                release_a.wait(WAIT)
        except BaseException as exc:  # noqa: BLE001  # reported by the asserts
            errors.append(exc)
            published_a.set()
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                ids["b"] = _publish("order:2")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            done_b.set()
            connection.close()

    thread_a = threading.Thread(target=first, daemon=True)
    thread_a.start()
    assert published_a.wait(WAIT) and not errors, errors
    thread_b = threading.Thread(target=second, daemon=True)
    thread_b.start()
    try:
        for _ in range(int(WAIT * 20)):  # until B waits on the lock (bounded, not timed)
            if waiting_on_locks() >= 1 or done_b.is_set():
                break
            threading.Event().wait(0.05)
        assert not done_b.is_set(), "the second publisher committed while the first was open"
        assert selectors.events_for(principal=READER, since=0, limit=10).events == []
    finally:
        release_a.set()
        thread_a.join(WAIT)
        thread_b.join(WAIT)
    assert not errors, errors
    assert ids["b"] > ids["a"]
    page: Any = selectors.events_for(principal=READER, since=0, limit=10)
    assert [f["id"] for f in page.events] == [ids["a"], ids["b"]]
