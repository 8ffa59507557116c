"""The request id travels in Celery task headers and is restored in the worker."""

from __future__ import annotations

from celery import Celery
from celery.contrib.testing.worker import start_worker

import aventide.celery  # noqa: F401  (connects the header signals)
from aventide.core import context

# set_as_current=False: the project's app stays the current one for shared tasks.
test_app = Celery(
    "context-test", broker="memory://", backend="cache+memory://", set_as_current=False
)
test_app.conf.update(task_always_eager=False, worker_hijack_root_logger=False)


@test_app.task(name="tests.current_request_id")
def current_request_id() -> str | None:
    return context.get_request_id()


@test_app.task(name="celery.ping")
def ping() -> str:
    return "pong"


def test_request_id_is_restored_in_a_real_worker_thread() -> None:
    with start_worker(test_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with context.bound_context(request_id="req-from-api-42"):
            result = current_request_id.delay()
        assert result.get(timeout=10) == "req-from-api-42"
        # A task sent with no request id gets a fresh one, never None.
        fresh = current_request_id.delay().get(timeout=10)
        assert fresh and fresh != "req-from-api-42"


def test_eager_task_sees_the_callers_request_id() -> None:
    with context.bound_context(request_id="eager-1"):
        assert current_request_id.apply().get() == "eager-1"
        assert context.get_request_id() == "eager-1"
