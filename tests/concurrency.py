"""Deterministic races on PostgreSQL for the lock tests (tests/*/test_locks_postgres.py).

``race(calls, sql, params)``: a holder thread locks the contended row (``SELECT ... FOR
UPDATE`` in its own transaction); the calls start in their own threads (own connections)
and run until each one waits on a lock -- at the service's own lock when it is there or,
when it is missing, later, after having read stale data. When every call is waiting (seen in
``pg_stat_activity``) or finished, the holder commits and the calls go on. No sleep decides
an outcome and nothing is timed: ``WAIT`` only bounds a broken run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

from aventide.core.errors import DomainError

WAIT = 60.0  # seconds: a generous bound for a loaded machine, never a measured duration


def waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@contextmanager
def _row_locked(sql: str, params: list[Any]) -> Iterator[threading.Event]:
    """A holder thread keeps ``sql`` (a SELECT ... FOR UPDATE) locked until the event is set."""
    locked, release, failed = threading.Event(), threading.Event(), []

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                assert cursor.fetchall(), "nothing to lock"
                locked.set()
                release.wait(WAIT)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            failed.append(exc)
            locked.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert locked.wait(WAIT) and not failed, failed
    try:
        yield release
    finally:
        release.set()
        holder.join(WAIT)


def race(calls: Sequence[Callable[[], Any]], sql: str, params: list[Any]) -> list[Any]:
    """Run ``calls`` concurrently against the locked row; each result or DomainError code."""
    results: list[Any] = [None] * len(calls)
    done = threading.Semaphore(0)

    def work(i: int) -> None:
        try:
            results[i] = calls[i]()
        except DomainError as exc:
            results[i] = exc.code
        except Exception as exc:  # noqa: BLE001 -- any other error fails the test's asserts
            results[i] = repr(exc)
        finally:
            connection.close()
            done.release()

    with _row_locked(sql, params) as release:
        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        finished = 0
        # every worker is either blocked behind the holder or already finished
        for _ in range(int(WAIT * 20)):
            while done.acquire(blocking=False):
                finished += 1
            if finished + waiting_on_locks() >= len(calls):
                break
            threading.Event().wait(0.05)
        release.set()
        for thread in threads:
            thread.join(WAIT)
    return results
