"""Fixtures of the outbox tests: a fake provider, an in-memory breaker, a clock nudge."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import breaker
from integrations.models import Job
from integrations.models.jobs import WAITING
from integrations.providers import registry
from integrations.providers.base import (
    Call,
    Outcome,
    PermanentProviderError,
    TransientProviderError,
)

KIND = "email"


class FakeProvider:
    """A provider that dedupes on the idempotency key like a real one: ``effects[key]`` is
    how many times the effect happened (always 1 for a key it accepted), ``calls`` every
    call it received. ``mode``: ok | transient | permanent | throttled."""

    name = "fake"

    def __init__(self, kind: str = KIND, mode: str = "ok") -> None:
        self.kind = kind
        self.mode = mode
        self.retry_after: float | None = None
        self.calls: list[str] = []
        self.effects: Counter[str] = Counter()
        self._lock = threading.Lock()

    def execute(self, call: Call) -> Outcome:
        with self._lock:
            self.calls.append(call.idempotency_key)
            if self.mode == "transient":
                raise TransientProviderError("upstream 503", status_code=503)
            if self.mode == "throttled":
                raise TransientProviderError(
                    "slow down", status_code=429, code="PROVIDER_THROTTLED",
                    retry_after=self.retry_after,
                )  # fmt: skip
            if self.mode == "permanent":
                raise PermanentProviderError("bad request for ana@example.com", status_code=400)
            if not self.effects[call.idempotency_key]:
                self.effects[call.idempotency_key] = 1
            return Outcome(provider_reference=f"ref-{call.idempotency_key}", data={"ok": True})


@pytest.fixture(autouse=True)
def memory_breaker(settings: Any) -> Iterator[breaker.MemoryStorage]:
    settings.INTEGRATIONS_BREAKER_FAILURES = 3
    settings.INTEGRATIONS_BREAKER_COOLDOWN_SECONDS = 0.3
    settings.INTEGRATIONS_RETRY_POLICY = {
        "default": {"base": 1.0, "cap": 30.0, "max_attempts": 4},
    }
    store = breaker.MemoryStorage()
    breaker.use_storage(store)
    yield store
    breaker.use_storage(None)


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    with registry.override(KIND, fake):
        yield fake


def make_due() -> int:
    """Time passes: every waiting job is due now (instead of sleeping through backoff)."""
    return Job.objects.filter(status__in=WAITING).update(
        next_attempt_at=timezone.now(), lease_expires_at=None
    )


def count_queries(fn: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)
