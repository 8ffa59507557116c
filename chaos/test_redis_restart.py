"""Drill 3 of issue 15: Redis restart under chat load.

The drill's own Redis carries the cache (rate limits, presence, tickets' helpers), the channel
layer (live fan-out) and the Celery broker. Mid-run it is stopped (its data is gone: no
persistence), stays down ``down_seconds`` and comes back empty, while:

- senders post ``rate`` messages/s over the conversations (buyer and seller alternate; a
  failed send is retried with the same clientMessageId until 45 s after the run);
- ``buyers`` WebSocket clients (one per buyer, subscribed to its conversations) listen,
  reconnect on any loss and resume with ``since``; at the end each reconnects once more with
  ``since`` and reads until ``caughtUp``;
- a Celery worker and beat run the notification outbox (sellers are offline, so the buyer's
  messages queue email notices; ``MESSAGING_NOTIFY_COALESCE_SECONDS`` is lowered so that jobs
  keep coming through the restart).

The promises (each broken one fails the drill with the ids):

- 0 messages lost: every send that got a 2xx is in the database exactly once, with the id it
  was told;
- 0 outbox jobs lost: every job created in the run reaches a terminal state (succeeded, dead
  or discarded) within a bounded wait (the broker's queue died with Redis: the beat's
  ``dispatch_due`` hands the jobs over again after the dispatch grace);
- every client's received set (live + resumed + final catchup) equals the realtime log's
  events addressed to it on its streams in the run: 0 missing, 0 duplicate ids;
- errors only in a short window after the restart (none before it, none later than
  ``ERROR_WINDOW_SECONDS`` after Redis is back); they are counted and the window reported.

How to run it and read it: docs/operations/drills.md, "Drill 3".
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos import chatload, record
from chaos.harness import HOST, Drill, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.chaos]

ORIGIN = f"http://{HOST}:8000"
#: how long after Redis is back errors may still happen (reconnects, the first requests)
ERROR_WINDOW_SECONDS = 15.0
TERMINAL = ("succeeded", "dead", "discarded")


@dataclass(frozen=True)
class Size:
    buyers: int
    conversations_per_buyer: int
    rate: float
    seconds: float
    restart_at: float
    down_seconds: float
    dispatch_grace: float
    job_wait: float


SHORT = Size(
    buyers=20,
    conversations_per_buyer=2,
    rate=20,
    seconds=24,
    restart_at=8,
    down_seconds=3,
    dispatch_grace=10,
    job_wait=60,
)
FULL = Size(
    buyers=200,
    conversations_per_buyer=1,
    rate=100,
    seconds=120,
    restart_at=50,
    down_seconds=5,
    dispatch_grace=60,
    job_wait=240,
)


def _job_states(after_id: int) -> dict[str, list[int]]:
    from integrations.models import Job

    states: dict[str, list[int]] = {}
    for pk, status in Job.objects.filter(pk__gt=after_id).values_list("pk", "status"):
        states.setdefault(status, []).append(pk)
    return states


def run_drill(drill: Drill, tmp_path: Path, size: Size) -> dict[str, Any]:
    from integrations.models import Job
    from tests.accounts.factories import ensure_countries

    ensure_countries()
    world = chatload.seed(
        drill, buyers=size.buyers, conversations_per_buyer=size.conversations_per_buyer
    )
    job_mark = Job.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    env = {
        "WS_ALLOWED_ORIGINS": ORIGIN,
        "MESSAGING_NOTIFY_COALESCE_SECONDS": "10",
        "INTEGRATIONS_DISPATCH_GRACE_SECONDS": str(size.dispatch_grace),
    }
    web = drill.asgi_server(workers=2, **env)
    drill.celery_worker(concurrency=2, **env)
    drill.celery_beat(**env)
    plan_path, out = tmp_path / "plan.json", tmp_path / "load.json"
    start_at = time.time() + 3.0 + size.buyers / 40
    chatload.write_plan(
        plan_path,
        world,
        run=drill.run_id,
        base_urls=[web.base_url],
        origin=ORIGIN,
        start_at=start_at,
        seconds=size.seconds,
        rate=size.rate,
    )
    load = drill.process("load", chatload.command(plan_path, "all", out))
    time.sleep(max(0.0, start_at + size.restart_at - time.time()))
    restart_at = time.time()
    drill.redis.restart(down_seconds=size.down_seconds)
    back_at = time.time()
    budget = size.seconds - size.restart_at + chatload.END_BUDGET_SECONDS
    try:
        wait_until(lambda: not load.alive(), timeout=budget, interval=0.5, what="the load's end")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{load.log_tail()}") from exc
    assert out.exists(), f"the load wrote no result\n{load.log_tail()}"
    history = chatload.merge([json.loads(out.read_text())])

    # The outbox: every job of the run settles (bounded wait).
    def settled() -> bool:
        states = _job_states(job_mark)
        return all(status in TERMINAL for status in states)

    job_wait_started = time.time()
    with contextlib.suppress(TimeoutError):
        wait_until(settled, timeout=size.job_wait, interval=1.0, what="every job settled")
    job_settle_seconds = time.time() - job_wait_started
    states = _job_states(job_mark)
    unsettled = sorted(pk for status, pks in states.items() if status not in TERMINAL for pk in pks)

    verdict = chatload.check(world, history, run=drill.run_id)
    errors = history["errors"]
    before = [e for e in errors if e[0] < restart_at]
    late = [e for e in errors if e[0] > back_at + ERROR_WINDOW_SECONDS]
    in_window = [e for e in errors if restart_at <= e[0] <= back_at + ERROR_WINDOW_SECONDS]
    after_restart = [e[0] for e in errors if e[0] >= restart_at]
    window = (max(after_restart) - restart_at) if after_restart else 0.0
    broken = verdict.broken() + len(unsettled) + len(before) + len(late)
    figures = {
        "clients": len(world.listeners),
        "conversations": len(world.conversations),
        "sends": len(history["sends"]),
        "acked": verdict.acked,
        "unacked": verdict.unacked,
        "lost": len(verdict.lost) + len(verdict.wrong_id) + len(verdict.duplicate_rows),
        "deliveries_expected": verdict.expected_deliveries,
        "missing": verdict.missing_count,
        "duplicates": verdict.duplicate_count,
        "foreign": verdict.foreign_count,
        "jobs": sum(len(v) for v in states.values()),
        "jobs_succeeded": len(states.get("succeeded", [])),
        "jobs_dead": len(states.get("dead", [])),
        "jobs_lost": len(unsettled),
        "job_settle_ms": round(job_settle_seconds * 1000),
        "errors": len(errors),
        "errors_in_window": len(in_window),
        "errors_outside": len(before) + len(late),
        "error_window_ms": round(window * 1000),
        "redis_down_ms": round((back_at - restart_at) * 1000),
        "reconnects": sum(s["reconnects"] for s in history["listeners"].values()),
        "unsent": history["unsent"],
        "broken": broken,
    }
    record("Redis restart", **figures)
    kinds: dict[str, int] = {}
    for _t, kind, what in errors:
        kinds[f"{kind}:{what}"] = kinds.get(f"{kind}:{what}", 0) + 1
    print(
        f"\nRedis restart: {'BROKEN' if broken else 'OK'} -- "
        + ", ".join(f"{k} {v}" for k, v in figures.items())
        + f"; error kinds {kinds}; delivered via {dict(verdict.via_path)}"
    )
    problems = verdict.problems()
    if unsettled:
        problems.append(f"outbox jobs not settled: {unsettled[:20]} ({states})")

    def rel(items: list[Any]) -> list[str]:
        return [f"{t - restart_at:+.2f}s {kind} {what}" for t, kind, what in items[:10]]

    if before:
        problems.append(f"errors before the restart (s relative to it): {rel(before)}")
    if late:
        problems.append(
            f"errors {ERROR_WINDOW_SECONDS:.0f}s after Redis was back (s after the restart): "
            f"{rel(late)}"
        )
    if history["unsent"]:
        problems.append(chatload.unsent_problem(history, size.rate, size.seconds))
    assert not problems, "\n".join(problems)
    return figures


@pytest.mark.timeout(300)
def test_redis_restart_short(drill: Drill, tmp_path: Path) -> None:
    run_drill(drill, tmp_path, SHORT)


@pytest.mark.chaos_long
@pytest.mark.timeout(900)
def test_redis_restart_full(drill: Drill, tmp_path: Path) -> None:
    run_drill(drill, tmp_path, FULL)
