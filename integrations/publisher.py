"""Handing outbox jobs to Celery from the background sender (aventide/core/aftercommit.py).

``run_job.delay(id)`` builds a Celery message through celery + kombu (task options, routing,
signals, a producer from the pool, the envelope) and pushes it with one Redis round trip per
job: ~0.4 ms of CPU on an idle process, ~0.8 ms under load, measured (decision 0018). Every
outbox message is the same but for the job id, its task id and the request id, so on a Redis
broker with default routing the background sender builds the envelope directly -- exactly
the fields Celery 5.5 + kombu 5.5 put there (``tests/integrations/test_publisher.py``
compares them field by field with a real ``delay()``) -- and pushes a whole batch with one
``LPUSH``. Anything else (another broker, task routes, transport options such as a key
prefix, priorities) takes ``run_job.apply_async`` per job, the slow path.

A failed publish is counted (``METRIC_INTEGRATION_PUBLISH_FAILED``) and never raised: the job
stays due and the beat task ``dispatch_due`` hands it over later.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from aventide.core import context
from aventide.core.metrics import emit

#: The after-commit kind (aventide.core.aftercommit) of an outbox publish: (job_id, request_id).
KIND = "integrations.publish"
#: The task header that carries the request id (aventide/celery.py).
_REQUEST_ID_HEADER = "aventide_request_id"
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@dataclass(frozen=True)
class _Route:
    queue: str
    task: str
    timelimit: tuple[int | None, int | None]
    origin: str
    reply_to: str
    client: Any  # redis.Redis


@lru_cache(maxsize=1)
def _fast_route() -> _Route | None:
    """The direct path, or None when this broker/configuration needs Celery's own."""
    from celery.utils.nodenames import anon_nodename

    from aventide.celery import app
    from integrations import tasks

    conf = app.conf
    url = str(conf.broker_url or "")
    if urlsplit(url).scheme != "redis":
        return None
    if conf.task_routes or conf.broker_transport_options or conf.task_queues:
        return None
    if conf.task_default_exchange_type != "direct" or conf.task_default_priority is not None:
        return None
    if conf.task_protocol != 2 or conf.task_serializer != "json":
        return None
    if conf.task_default_exchange not in (None, conf.task_default_queue):
        return None
    if conf.task_default_routing_key not in (None, conf.task_default_queue):
        return None
    import redis

    task = tasks.run_job
    return _Route(
        queue=str(conf.task_default_queue),
        task=task.name,
        timelimit=(task.time_limit, task.soft_time_limit),
        origin=anon_nodename(),
        reply_to=str(uuid.uuid4()),
        client=redis.Redis.from_url(url),
    )


def envelope(route: _Route, job_id: int, request_id: str | None) -> str:
    """The broker message of ``run_job(job_id)``, as kombu's Redis transport stores it."""
    task_id = str(uuid.uuid4())
    headers: dict[str, Any] = {
        "lang": "py",
        "task": route.task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": list(route.timelimit),
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr((job_id,)),
        "kwargsrepr": "{}",
        "origin": route.origin,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    if request_id:
        headers[_REQUEST_ID_HEADER] = request_id
    body = json.dumps([[job_id], {}, _EMBED])
    return json.dumps(
        {
            "body": base64.b64encode(body.encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": task_id,
                "reply_to": route.reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": route.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def _failed(job_ids: Sequence[int], exc: BaseException) -> None:
    for job_id in job_ids:
        emit(
            "METRIC_INTEGRATION_PUBLISH_FAILED",
            labels={"error": type(exc).__name__},
            jobId=job_id,
        )


def publish_batch(items: list[tuple[int, str | None]]) -> None:
    """The background sender's handler: hand ``(job_id, request_id)`` pairs to Celery, in
    order; one ``LPUSH`` for the batch on the direct path. Never raises."""
    route = _fast_route()
    if route is not None:
        messages = [envelope(route, job_id, rid) for job_id, rid in items]
        try:
            # LPUSH pushes its values left to right; consumers pop from the right: FIFO.
            route.client.lpush(route.queue, *messages)
        except Exception as exc:  # noqa: BLE001 -- broker down: the rows are the truth
            _failed([job_id for job_id, _ in items], exc)
        return
    publish_each(items)


def publish_each(items: list[tuple[int, str | None]]) -> None:
    """Celery's own path, one ``apply_async`` per job, the request id restored for the
    ``before_task_publish`` signal. Never raises."""
    from integrations import tasks

    for job_id, rid in items:
        token = context.set_request_id(rid)
        try:
            tasks.run_job.delay(job_id)
        except Exception as exc:  # noqa: BLE001 -- broker down: the row is the truth
            _failed([job_id], exc)
        finally:
            context.reset_request_id(token)
