"""Readiness checks and their registry.

Apps add checks at ``AppConfig.ready()`` with ``register_check(name, fn)``; a check returns
``"ok"``/``"skipped"`` (or a short detail string) or raises. `/readyz` runs them all and
answers 503 naming every failing check. Error text never reaches the response (it could hold
a DSN); it is logged, redacted, with the requestId.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from aventide.core.logging import get_logger

logger = get_logger("aventide.health")

CheckFn = Callable[[], str]


class CheckFailed(Exception):
    """Raised by a check with a short, safe detail (no DSN, no secrets)."""


_CHECKS: dict[str, CheckFn] = {}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "ok" | "skipped" | "fail"
    latency_ms: float
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"status": self.status, "latencyMs": self.latency_ms}
        if self.detail:
            out["detail"] = self.detail
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
        try:
            outcome = fn() or "ok"
            status = "skipped" if outcome == "skipped" else "ok"
            detail = "" if outcome in {"ok", "skipped"} else outcome
        except Exception as exc:  # noqa: BLE001 -- a check failing is data, not a crash
            status = "fail"
            detail = str(exc) if isinstance(exc, CheckFailed) else type(exc).__name__
            logger.warning("HEALTH_CHECK_FAILED", check=name, error=type(exc).__name__)
        latency = round((time.perf_counter() - started) * 1000, 2)
        results.append(CheckResult(name, status, latency, detail))
    return results


# --- built-in checks ---------------------------------------------------------------------


def check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


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
