"""The outbox's direct Celery publish (integrations/publisher.py, docs/decisions/0018): the
message it builds is the one ``run_job.delay()`` builds, field by field, on the real Redis
broker; a real Celery consumer runs it (job id, order, request id); the background path of
``services.publish`` queues after commit and never raises when the broker is down."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from aventide.core import aftercommit, context
from aventide.core.metrics import count_of
from integrations import publisher, services, tasks

pytestmark = pytest.mark.redis

#: Fields that differ between any two messages (fresh ids, the sending process/thread).
_VOLATILE_HEADERS = {"id", "root_id", "origin"}
_VOLATILE_PROPERTIES = {"correlation_id", "delivery_tag", "reply_to"}


@pytest.fixture
def broker() -> Iterator[Any]:
    """The test Redis as the broker, a queue of this test's own, eager mode off."""

    # unique per test: a thread id repeats across processes (xdist workers share the Redis)
    queue = f"test-publisher-{uuid.uuid4().hex}"
    _conf(task_always_eager=False, task_default_queue=queue)
    route = publisher._fast_route()
    assert route is not None and route.queue == queue
    route.client.delete(queue)
    yield route
    route.client.delete(queue)


def _conf(**values: Any) -> None:
    """Change Celery settings (namespace CELERY_, from Django's settings) for one test."""
    from aventide.celery import app

    previous = {f"CELERY_{k.upper()}": app.conf[k] for k in values}

    def reset() -> None:
        # send_task_message too: a closure that captured the default queue when it was built
        # (by whichever earlier test of this process published first)
        for cached in ("queues", "router", "_producer_pool", "default_queue", "send_task_message"):
            app.amqp.__dict__.pop(cached, None)
        _FAST_ROUTE.cache_clear()

    def restore() -> None:
        app.conf.update(previous)
        reset()

    app.conf.update({f"CELERY_{k.upper()}": v for k, v in values.items()})
    reset()
    _finalizers.append(restore)


_finalizers: list[Any] = []
_FAST_ROUTE = publisher._fast_route


@pytest.fixture(autouse=True)
def _restore_celery_conf() -> Iterator[None]:
    yield
    while _finalizers:
        _finalizers.pop()()


def _pop(route: Any) -> dict[str, Any]:
    raw = route.client.rpop(route.queue)
    assert raw is not None, "no message in the queue"
    return dict(json.loads(raw))


def test_the_direct_message_is_the_one_celery_builds(broker: Any) -> None:
    from aventide.celery import app

    assert not app.conf.task_always_eager
    token = context.set_request_id("req-abc")
    try:
        # The queue named and a connection of its own to the configured broker: the route
        # and broker Celery takes by default, without the state (a cached default queue, a
        # pooled connection to another broker) earlier tests of this process may have left
        # in Celery's caches.
        with app.connection_for_write() as connection:
            tasks.run_job.apply_async(  # type: ignore[call-arg]  # celery-stubs lack connection
                args=(41,), queue=broker.queue, connection=connection
            )
    finally:
        context.reset_request_id(token)
    celery_msg = _pop(broker)
    publisher.publish_batch([(41, "req-abc")])
    direct = _pop(broker)

    assert set(direct) == set(celery_msg)
    for key in ("content-encoding", "content-type"):
        assert direct[key] == celery_msg[key]
    assert base64.b64decode(direct["body"]) == base64.b64decode(celery_msg["body"]) or json.loads(
        base64.b64decode(direct["body"])
    ) == json.loads(base64.b64decode(celery_msg["body"]))
    strip_h = {k: v for k, v in celery_msg["headers"].items() if k not in _VOLATILE_HEADERS}
    assert {k: v for k, v in direct["headers"].items() if k not in _VOLATILE_HEADERS} == strip_h
    assert direct["headers"]["aventide_request_id"] == "req-abc"
    assert direct["headers"]["root_id"] == direct["headers"]["id"]
    strip_p = {k: v for k, v in celery_msg["properties"].items() if k not in _VOLATILE_PROPERTIES}
    assert {
        k: v for k, v in direct["properties"].items() if k not in _VOLATILE_PROPERTIES
    } == strip_p
    assert direct["properties"]["correlation_id"] == direct["headers"]["id"]


def test_a_batch_is_one_push_in_order(broker: Any) -> None:
    publisher.publish_batch([(1, None), (2, "r2"), (3, None)])
    assert broker.client.llen(broker.queue) == 3
    ids = [json.loads(base64.b64decode(_pop(broker)["body"]))[0][0] for _ in range(3)]
    assert ids == [1, 2, 3]  # consumers pop from the right: first in, first out


def test_a_real_celery_consumer_runs_the_direct_messages(
    broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery.contrib.testing.worker import start_worker

    from aventide.celery import app

    ran: list[tuple[int, str | None]] = []
    done = threading.Event()

    def fake_job_run(*, job_id: int) -> None:
        ran.append((job_id, context.get_request_id()))
        if len(ran) == 3:
            done.set()

    monkeypatch.setattr(services, "job_run", fake_job_run)
    publisher.publish_batch([(7, "req-7"), (8, None), (9, "req-9")])
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert done.wait(20), f"the worker ran {ran}"
    assert [job_id for job_id, _ in ran] == [7, 8, 9]
    assert ran[0][1] == "req-7" and ran[2][1] == "req-9"
    assert ran[1][1]  # a fresh request id when none was sent


@pytest.mark.django_db(transaction=True)
def test_background_publish_waits_for_commit_and_uses_the_sender(broker: Any) -> None:
    with override_settings(AFTER_COMMIT_SENDER="background", CELERY_TASK_ALWAYS_EAGER=False):
        with transaction.atomic():
            transaction.on_commit(lambda: services.publish([11, 12]))
            assert broker.client.llen(broker.queue) == 0
        assert aftercommit.process_sender().flush(timeout=5)
    ids = [json.loads(base64.b64decode(_pop(broker)["body"]))[0][0] for _ in range(2)]
    assert ids == [11, 12]


def test_broker_down_is_counted_never_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    _conf(task_always_eager=False)
    route = publisher._fast_route()
    assert route is not None
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    broken = publisher._Route(**{**route.__dict__, "client": dead})
    monkeypatch.setattr(publisher, "_fast_route", lambda: broken)
    before = count_of("METRIC_INTEGRATION_PUBLISH_FAILED", error="ConnectionError")
    publisher.publish_batch([(1, None), (2, None)])  # no exception
    assert count_of("METRIC_INTEGRATION_PUBLISH_FAILED", error="ConnectionError") == before + 2


def test_other_brokers_take_celerys_own_path() -> None:
    _conf(task_routes={"integrations.run_job": {"queue": "x"}})
    assert publisher._fast_route() is None
    _conf(task_routes=None, broker_url="amqp://guest@127.0.0.1//")
    assert publisher._fast_route() is None
