"""Drill 2's application side: the Celery app its workers run, the recording sandbox providers
and the producer (chaos/test_worker_kill.py drives them; docs/operations/drills.md).

A SIGKILLed worker takes its memory with it (the sandbox's in-process ``LEDGER`` too), so the
drill keeps its record in the drill's own Redis (``REDIS_URL``), written by every process
before the next step could be lost:

- as the workers' app: ``celery -A chaos.worker_kill_app worker ...``. The app IS the
  production one (``aventide.celery.app``: same settings, tasks and signals); this module only
  adds signal hooks that record, per ``integrations.run_job`` message, when a worker's main
  process *received* it (``task_received``: it holds the unacked message) and when a pool
  process *started* and *ended* it (``task_prerun``/``task_postrun``), with the pid and
  ``time.time()``; and when the worker was ready (``worker_ready``).
- the providers (chaos/worker_kill_providers.py, loaded by the workers through
  ``INTEGRATIONS_PROVIDER_EMAIL``/``_SMS``) are the sandbox adapters (latency, seeded failure
  injection, provider ids from the key) plus a cross-process record: every call (idempotency
  key, attempt, the job's marker from the payload, pid, time) and the effect, deduplicated by
  the provider the way a real one does -- by idempotency key, ``HSETNX`` in one hash shared by every
  process -- with a log line per effect step (first time or deduplicated).
- as the producer: ``python -m chaos.worker_kill_app produce --count N --rate R --out F``
  enqueues through ``integrations.services.enqueue``, one job per use-case transaction, at
  ``R`` jobs/s, and writes each job's id, key, marker, kind and commit time to ``F``.

When service signatures change, adapt the calls marked ``# app:`` and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from celery import signals

from aventide.celery import app  # app: the production Celery app (validates the env)

__all__ = ["app", "marker_of", "produce", "redis_client"]

RUN_JOB_TASK = "integrations.run_job"  # app: the outbox task's name
PREFIX = "chaos:wk:"
#: ``key attempt pid time marker``, one per call that reached the provider
CALLS = PREFIX + "calls"
#: ``<kind>:<key>`` -> provider reference of the (single) effect of that key
EFFECTS = PREFIX + "effects"
#: ``key pid time first(1|0)``, one per call that reached the effect step
EFFECT_LOG = PREFIX + "effect-log"
#: ``received|start|end job_id task_id pid time``
RUNS = PREFIX + "runs"
#: ``hostname pid time``, one per worker start that became ready
READY = PREFIX + "ready"

_client: tuple[int, Any] | None = None


def redis_client() -> Any:
    """This process's client (a forked pool process makes its own)."""
    global _client
    pid = os.getpid()
    if _client is None or _client[0] != pid:
        import redis
        from django.conf import settings

        _client = (pid, redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5))
    return _client[1]


# --- the worker's record -----------------------------------------------------------------------


def _job_id(args: Any) -> str:
    try:
        return str(int(args[0]))
    except (TypeError, ValueError, IndexError):
        return "-1"


def _run(event: str, job: str, task_id: str) -> None:
    redis_client().rpush(RUNS, f"{event} {job} {task_id or '-'} {os.getpid()} {time.time():.6f}")


@signals.task_received.connect
def _received(request: Any = None, **_: Any) -> None:
    if request is not None and request.name == RUN_JOB_TASK:
        _run("received", _job_id(request.args), request.id)


@signals.task_prerun.connect
def _started(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
    if task is not None and task.name == RUN_JOB_TASK:
        _run("start", _job_id(args), task_id)


@signals.task_postrun.connect
def _ended(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
    if task is not None and task.name == RUN_JOB_TASK:
        _run("end", _job_id(args), task_id)


@signals.worker_ready.connect
def _ready(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", "") or "?"
    redis_client().rpush(READY, f"{name} {os.getpid()} {time.time():.6f}")


def marker_of(body: str) -> str:
    """The job's marker in a message body (``... [job <tag>-<n>]``): which job the work is
    for, independently of the idempotency key it was sent with."""
    start = body.rfind("[job ")
    return body[start + 5 : body.find("]", start)] if start >= 0 else "?"


# --- the producer --------------------------------------------------------------------------------

SMS_EVERY = 4  # every 4th job is an SMS (the drill's DLQ share comes from the SMS kind)


def _stamper(into: list[float]) -> Any:
    def stamp() -> None:
        into.append(time.time())

    return stamp


def produce(count: int, rate: float, tag: str) -> list[dict[str, Any]]:
    """Enqueue ``count`` jobs, one per use-case transaction, at ``rate`` jobs/s (0: at once)."""
    import django

    django.setup()
    from django.db import transaction

    from aventide.accounts.contracts import use_case  # app:
    from aventide.core.principal import SYSTEM  # app:
    from integrations import services  # app:

    jobs: list[dict[str, Any]] = []
    started = time.time()
    for n in range(count):
        if rate > 0 and (delay := started + n / rate - time.time()) > 0:
            time.sleep(delay)
        marker = f"{tag}-{n}"
        sms = n % SMS_EVERY == SMS_EVERY - 1
        stamp: list[float] = []
        with use_case(SYSTEM):
            # Registered first: runs right after COMMIT, before the outbox's own publish.
            transaction.on_commit(_stamper(stamp))
            if sms:
                payload = {"to": f"+5411555{n:05d}", "body": f"Your gift is near [job {marker}]"}
            else:
                payload = {
                    "to": f"chaos+{n}@chaos.aventide.test",
                    "subject": "Your gift is on its way",
                    "body": f"Chaos drill message [job {marker}]",
                }
            job = services.enqueue(  # app:
                kind="sms" if sms else "email",
                operation="sms.send" if sms else "email.send",
                payload=payload,
                idempotency_key=f"chaos-wk-{marker}",
                country_code="AR",
            )
        jobs.append(
            {"id": job.pk, "key": job.idempotency_key, "marker": marker,
             "kind": job.kind, "commit": stamp[0]}
        )  # fmt: skip
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.worker_kill_app")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("produce")
    cmd.add_argument("--count", type=int, required=True)
    cmd.add_argument("--rate", type=float, default=0.0, help="jobs/s (0: as fast as possible)")
    cmd.add_argument("--tag", default="x")
    cmd.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    jobs = produce(args.count, args.rate, args.tag)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(jobs, fh)
    os.replace(tmp, args.out)  # the drill waits for the file: whole or absent
    sys.stderr.write(f"[chaos producer] {len(jobs)} jobs\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
