"""A Celery worker keeps its database connection across tasks (``CELERY_DB_REUSE_MAX``) and
drops one that an error left unusable right after the task that saw it, so a terminated
backend costs one task, not the next hundred."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

import psycopg
import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.conf import settings
from django.db import OperationalError, connection

from aventide.celery import (
    _close_broken_database_connections,
    _drop_connections_closed_by_the_server,
    app,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKER_TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _terminate(pid: int) -> None:
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_celerys_django_fixup_reads_the_reuse_setting() -> None:
    assert settings.CELERY_DB_REUSE_MAX == 100
    assert DjangoWorkerFixup(app).db_reuse_max == settings.CELERY_DB_REUSE_MAX


@pytest.mark.parametrize(
    "handler",
    [_close_broken_database_connections, _drop_connections_closed_by_the_server],
    ids=["after a task", "before a task"],
)
def test_a_healthy_connection_is_kept_across_tasks(handler: Callable[..., None]) -> None:
    pid = _backend_pid()
    handler(task=WORKER_TASK)
    assert connection.connection is not None
    assert _backend_pid() == pid


def test_a_connection_whose_backend_was_terminated_is_closed_after_its_task() -> None:
    pid = _backend_pid()
    _terminate(pid)
    with pytest.raises(OperationalError):  # the task that meets the cut fails...
        _backend_pid()
    assert connection.errors_occurred
    _close_broken_database_connections(task=WORKER_TASK)
    assert connection.connection is None  # ...and its connection does not outlive it
    assert _backend_pid() != pid  # the next task gets a working one


def test_a_connection_the_server_closed_between_tasks_is_dropped_before_the_next() -> None:
    """The next task never meets the dead connection: no failed task, no error."""
    pid = _backend_pid()
    _close_broken_database_connections(task=WORKER_TASK)  # the previous task ends
    _terminate(pid)  # between tasks: the operator, a restart, an idle timeout
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the server's goodbye reaches the socket
        _drop_connections_closed_by_the_server(task=WORKER_TASK)
        if connection.connection is None:
            break
        time.sleep(0.05)
    assert connection.connection is None
    assert _backend_pid() != pid  # the task's first query just works


def test_eager_tasks_leave_the_callers_connection_alone() -> None:
    connection.ensure_connection()
    connection.errors_occurred = True
    raw = connection.connection
    _close_broken_database_connections(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert connection.connection is raw
    connection.errors_occurred = False
