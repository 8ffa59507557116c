"""The outbox benchmark's application side: the bench worker's Celery app and the producer.

``bench/outbox.py`` (the harness) never imports the application; it runs this module:

- as the worker's app: ``celery -A bench.outbox_app worker ...``. The app IS the production
  one (``aventide.celery.app``: same settings, same tasks, same signals); this module only
  adds, for the benchmark and nothing else:

  * ``bench.noop``: a Celery task that does nothing (the same-run ceiling);
  * per-task measurement hooks on ``task_prerun``/``task_postrun``: the task's start and end
    (``time.time()``), and the SQL this task ran, counted by a Django ``execute_wrapper`` on
    the worker process's connection (statements, savepoints, commits, rollbacks). At the end
    of each task ONE Redis pipeline (``RPUSH`` of a short record, plus the sandbox ledger's
    totals of this process for ``run_job``) goes to ``bench:outbox:*`` keys of ``REDIS_URL``:
    the same small cost for the ceiling's tasks and for the jobs.

- as the producer: ``python -m bench.outbox_app produce --mode jobs|noop ...``. ``jobs``
  enqueues through ``integrations.services.enqueue`` in use-case transactions of ``--batch``
  jobs and records each transaction's commit time (an ``on_commit`` callback registered
  first, so it runs right after COMMIT and before the outbox's own publish); ``noop``
  publishes ``bench.noop`` tasks as fast as it can. It writes one JSON document to ``--out``
  (the application logs JSON lines to stdout, so results never go there).

When service signatures change, adapt the calls marked ``# app:`` and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from celery import signals

from aventide.celery import app  # app: the production Celery app (validates the env)

DONE_KEY = "bench:outbox:done:{name}"  # one record per finished task: RPUSH
LEDGER_KEY = "bench:outbox:ledger"  # hash: "<pid>" -> "<calls> <effects>" (this process)
NOOP_TASK = "bench.noop"
RUN_JOB_TASK = "integrations.run_job"  # app: the outbox task's name
JOB_KIND = "email"
JOB_OPERATION = "email.send"
JOB_COUNTRY = "AR"

#: The bench's own queue (producers publish to it, the bench worker consumes only it), so a
#: broker database shared with anything else never mixes tasks.
BENCH_QUEUE = "bench-outbox"
app.conf.task_default_queue = BENCH_QUEUE

_SAVEPOINT = re.compile(r"^\s*(RELEASE SAVEPOINT|SAVEPOINT|ROLLBACK TO SAVEPOINT)", re.I)


@app.task(name=NOOP_TASK, ignore_result=True)
def noop(n: int, sent_at: float) -> None:
    """The ceiling: a task that does nothing (its arguments only identify it)."""


# --- worker-side measurement (bench only) ----------------------------------------------------


class _Counts:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.statements = 0
        self.savepoints = 0
        self.commits = 0
        self.rollbacks = 0
        self.started = 0.0


_counts = _Counts()
_redis: Any = None


def _count_statement(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any
) -> Any:
    if _SAVEPOINT.match(sql):
        _counts.savepoints += 1
    else:
        _counts.statements += 1
    return execute(sql, params, many, ctx)


def _install_counters() -> None:
    """Count this process's SQL: the execute wrapper sees every cursor statement; commits and
    rollbacks are counted by wrapping the connection wrapper's ``_commit``/``_rollback``."""
    from django.db import connection as default_connection

    connection: Any = default_connection  # the thread's wrapper (private methods wrapped)
    if _count_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_statement)
    real_commit, real_rollback = connection._commit, connection._rollback

    def _commit() -> Any:
        _counts.commits += 1
        return real_commit()

    def _rollback() -> Any:
        _counts.rollbacks += 1
        return real_rollback()

    connection._commit = _commit
    connection._rollback = _rollback


@signals.worker_process_init.connect
def _bench_process_init(**_: Any) -> None:
    import redis
    from django.conf import settings

    global _redis
    _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    _install_counters()


@signals.task_prerun.connect
def _bench_prerun(**_: Any) -> None:
    _counts.reset()
    _counts.started = time.time()


@signals.task_postrun.connect
def _bench_postrun(task: Any = None, args: Any = None, **_: Any) -> None:
    if _redis is None or task is None:
        return
    ended = time.time()
    name = "noop" if task.name == NOOP_TASK else "run_job" if task.name == RUN_JOB_TASK else ""
    if not name:
        return
    ident = int(args[0]) if args else -1
    c = _counts
    record = (
        f"{ident} {c.started:.6f} {ended:.6f} {c.statements} {c.savepoints} "
        f"{c.commits} {c.rollbacks} {os.getpid()}"
    )
    pipe = _redis.pipeline(transaction=False)
    pipe.rpush(DONE_KEY.format(name=name), record)
    if name == "run_job":
        from integrations.providers.sandbox import LEDGER  # app: the sandbox's effect ledger

        pipe.hset(LEDGER_KEY, str(os.getpid()), f"{LEDGER.total_calls} {LEDGER.effects}")
    pipe.execute()


# --- the producer ------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stamper(into: list[float]) -> Callable[[], None]:
    def stamp() -> None:
        into.append(time.time())

    return stamp


def _pace(rate: float, started: float, n: int) -> None:
    """Open loop at ``rate`` jobs/s (0: as fast as possible): wait for job ``n``'s slot."""
    if rate > 0:
        delay = started + n / rate - time.time()
        if delay > 0:
            time.sleep(delay)


def produce_jobs(count: int, batch: int, tag: str, rate: float = 0.0) -> dict[str, Any]:
    """Enqueue ``count`` jobs, ``batch`` per use-case transaction (at ``rate`` jobs/s when
    given); the commit time of each transaction."""
    import django

    django.setup()
    from django.db import transaction

    from aventide.accounts.contracts import use_case  # app:
    from aventide.core.principal import SYSTEM  # app:
    from integrations import services  # app:

    commits: list[list[Any]] = []  # [commit_time, [job ids]]
    cpu0, started = _cpu_seconds(), time.time()
    for first in range(0, count, batch):
        _pace(rate, started, first)
        stamp: list[float] = []
        ids: list[int] = []
        with use_case(SYSTEM):
            # Registered first: runs right after COMMIT, before the outbox's publish.
            transaction.on_commit(_stamper(stamp))
            for n in range(first, min(first + batch, count)):
                job = services.enqueue(  # app:
                    kind=JOB_KIND,
                    operation=JOB_OPERATION,
                    payload={
                        "to": f"bench+{n}@bench.aventide.test",
                        "subject": "Your gift is on its way",
                        "body": f"Bench message {n}.",
                    },
                    idempotency_key=f"bench-outbox-{tag}-{n}",
                    country_code=JOB_COUNTRY,
                )
                ids.append(job.pk)
        commits.append([stamp[0], ids])
    # AFTER_COMMIT_SENDER=background (as in the web workers): publish what is still queued.
    from aventide.core import aftercommit  # app:

    aftercommit.shutdown(timeout=60)
    return {
        "mode": "jobs",
        "count": count,
        "batch": batch,
        "rate": rate,
        "started": started,
        "finished": time.time(),
        "cpu_s": _cpu_seconds() - cpu0,
        "commits": commits,
    }


def produce_noop(count: int) -> dict[str, Any]:
    """Publish ``count`` ``bench.noop`` tasks; the publish time of the first and last."""
    import django

    django.setup()
    cpu0, started = _cpu_seconds(), time.time()
    sent: list[float] = []
    for n in range(count):
        at = time.time()
        sent.append(at)
        noop.delay(n, at)
    return {
        "mode": "noop",
        "count": count,
        "started": started,
        "first_publish": sent[0] if sent else started,
        "finished": time.time(),
        "cpu_s": _cpu_seconds() - cpu0,
        "sent": sent,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_app")
    sub = parser.add_subparsers(dest="command", required=True)
    produce = sub.add_parser("produce")
    produce.add_argument("--mode", choices=("jobs", "noop"), required=True)
    produce.add_argument("--count", type=int, required=True)
    produce.add_argument("--batch", type=int, default=1)
    produce.add_argument("--tag", default="x")
    produce.add_argument("--rate", type=float, default=0.0, help="jobs/s offered (0: max)")
    produce.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.mode == "jobs":
        result = produce_jobs(args.count, max(1, args.batch), args.tag, args.rate)
    else:
        result = produce_noop(args.count)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    sys.stderr.write(f"[bench producer] {args.mode}: {args.count} in "
                     f"{result['finished'] - result['started']:.2f}s\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
