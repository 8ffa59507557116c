"""Readiness checks and their registry.

Apps add checks at ``AppConfig.ready()`` with ``register_check(name, fn)``; a check returns
``"ok"``/``"skipped"`` (or a short detail string), an ``Outcome`` (e.g. ``degraded`` with
data), or raises. `/readyz` runs them all and answers 503 naming every failing check; a
degraded check (still serving, but saturated) keeps 200 with status ``degraded``. Error text
never reaches the response (it could hold a DSN); it is logged, redacted, with the requestId.

The database check reports this process's connection pool (size, available, in use, waiting
requests, min, max) and is ``degraded`` while requests wait for a connection.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from aventide.core.logging import get_logger

logger = get_logger("aventide.health")


class CheckFailed(Exception):
    """Raised by a check with a short, safe detail (no DSN, no secrets)."""


@dataclass(frozen=True)
class Outcome:
    """What a check may return instead of a plain string: a status with detail and data."""

    status: str = "ok"  # "ok" | "skipped" | "degraded"
    detail: str = ""
    data: Mapping[str, Any] | None = None


CheckFn = Callable[[], "str | Outcome"]


_CHECKS: dict[str, CheckFn] = {}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "ok" | "skipped" | "degraded" | "fail"
    latency_ms: float
    detail: str = ""
    data: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"status": self.status, "latencyMs": self.latency_ms}
        if self.detail:
            out["detail"] = self.detail
        if self.data:
            out.update(self.data)
        return out


def register_check(name: str, fn: CheckFn) -> None:
    """Register (or replace) a readiness check."""
    _CHECKS[name] = fn


def registered_checks() -> dict[str, CheckFn]:
    return dict(_CHECKS)


def run_checks() -> list[CheckResult]:
    results = []
    for name, fn in _CHECKS.items():
        started = time.perf_counter()
        data: Mapping[str, Any] | None = None
        try:
            outcome = fn() or "ok"
            if isinstance(outcome, Outcome):
                status, detail, data = outcome.status, outcome.detail, outcome.data
            else:
                status = "skipped" if outcome == "skipped" else "ok"
                detail = "" if outcome in {"ok", "skipped"} else outcome
        except Exception as exc:  # noqa: BLE001 -- a check failing is data, not a crash
            status = "fail"
            detail = str(exc) if isinstance(exc, CheckFailed) else type(exc).__name__
            logger.warning("HEALTH_CHECK_FAILED", check=name, error=type(exc).__name__)
        latency = round((time.perf_counter() - started) * 1000, 2)
        results.append(CheckResult(name, status, latency, detail, data))
    return results


def overall_status(results: list[CheckResult]) -> str:
    """``fail`` if any check failed, else ``degraded`` if any is, else ``ok``."""
    statuses = {r.status for r in results}
    if "fail" in statuses:
        return "fail"
    return "degraded" if "degraded" in statuses else "ok"


# --- built-in checks ---------------------------------------------------------------------


def database_pool_stats(alias: str = DEFAULT_DB_ALIAS) -> dict[str, int] | None:
    """This process's connection pool for ``alias`` (None without a pool: SQLite, pool off).

    ``size`` connections are open, ``available`` of them idle in the pool, ``inUse`` lent to
    requests, ``waiting`` requests queue for one (they get a 503 after the pool timeout).
    """
    pool = getattr(connections[alias], "pool", None)
    if pool is None:
        return None
    stats = pool.get_stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return {
        "size": size,
        "available": available,
        "inUse": size - available,
        "waiting": stats.get("requests_waiting", 0),
        "min": stats.get("pool_min", 0),
        "max": stats.get("pool_max", 0),
    }


def check_database() -> str | Outcome:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    pool = database_pool_stats()
    if pool is None:
        return "ok"
    if pool["waiting"]:
        return Outcome(
            "degraded",
            f"{pool['waiting']} requests waiting for a database connection",
            {"pool": pool},
        )
    return Outcome("ok", data={"pool": pool})


def check_redis() -> str:
    if not settings.REDIS_URL:
        return "skipped"
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
        socket_timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
    )
    try:
        if not client.ping():
            raise CheckFailed("ping failed")
    finally:
        client.close()  # type: ignore[no-untyped-call]  # redis-py 5 leaves close() untyped
    return "ok"


def check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "skipped"  # embedded mode: tasks run in-process
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL, connect_timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS
    ) as conn:
        conn.ensure_connection(
            max_retries=1, timeout=max(1, int(settings.HEALTH_CHECK_TIMEOUT_SECONDS))
        )
    return "ok"


def check_migrations() -> str:
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise CheckFailed(f"{len(plan)} unapplied migrations")
    return "ok"


def check_channel_layer() -> str:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise CheckFailed("no channel layer configured")

    async def round_trip() -> None:
        channel = await layer.new_channel("health.")
        marker = uuid.uuid4().hex
        await layer.send(channel, {"type": "health.ping", "marker": marker})
        message = await layer.receive(channel)
        if message.get("marker") != marker:
            raise CheckFailed("round trip returned another message")

    async def bounded() -> None:
        # The whole round trip (connect, send, receive) shares one budget: a layer that
        # accepts connections but never answers makes /readyz say 503, not hang.
        try:
            await asyncio.wait_for(round_trip(), timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            raise CheckFailed("timed out") from None

    async_to_sync(bounded)()
    return "ok"


def register_builtin_checks() -> None:
    register_check("database", check_database)
    register_check("migrations", check_migrations)
    register_check("redis", check_redis)
    register_check("broker", check_broker)
    register_check("channel_layer", check_channel_layer)
