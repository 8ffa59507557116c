"""The circuit breaker: closed -> open at the threshold -> one half-open probe -> closed or
open again; the same behaviour in memory and on Redis (shared by processes)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from aventide.core.metrics import count_of
from integrations import breaker
from integrations.breaker import CircuitState


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: Any, settings: Any) -> Iterator[breaker.Storage]:
    settings.INTEGRATIONS_BREAKER_FAILURES = 3
    settings.INTEGRATIONS_BREAKER_COOLDOWN_SECONDS = 30.0
    if request.param == "memory":
        storage: breaker.Storage = breaker.MemoryStorage()
    else:
        if not django_settings.REDIS_URL:
            pytest.skip("needs Redis")
        storage = breaker.RedisStorage(django_settings.REDIS_URL, f"test:{uuid.uuid4().hex}")
    breaker.use_storage(storage)
    yield storage
    breaker.use_storage(None)


P = "payments"


def _fail(times: int, now: float) -> None:
    for _ in range(times):
        breaker.record_failure(P, now=now)


def test_breaker_opens_after_the_threshold(store: breaker.Storage) -> None:
    opened = count_of("METRIC_INTEGRATION_CIRCUIT", provider=P, state="open")
    _fail(2, now=1000.0)
    assert breaker.state(P, now=1000.0) == CircuitState.CLOSED
    assert breaker.before_call(P, now=1000.0).allowed
    _fail(1, now=1000.0)
    assert breaker.state(P, now=1001.0) == CircuitState.OPEN
    permit = breaker.before_call(P, now=1001.0)
    assert not permit.allowed
    assert permit.retry_in == pytest.approx(29.0)
    assert count_of("METRIC_INTEGRATION_CIRCUIT", provider=P, state="open") == opened + 1


def test_breaker_success_resets_the_failure_count(store: breaker.Storage) -> None:
    _fail(2, now=1000.0)
    breaker.record_success(P)
    _fail(2, now=1000.0)
    assert breaker.state(P, now=1000.0) == CircuitState.CLOSED


def test_a_success_after_a_clean_permit_costs_no_storage_call(
    store: breaker.Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox's hot path: closed and no failure counted -> the success resets nothing.
    Once a failure is counted, the next permit is not clean and its success resets it."""
    closes: list[str] = []
    real_close = store.close

    def counted_close(provider: str) -> bool:
        closes.append(provider)
        return real_close(provider)

    monkeypatch.setattr(store, "close", counted_close)
    permit = breaker.before_call(P, now=1000.0)
    assert permit.allowed and permit.clean
    breaker.record_success(P, probe=permit.probe, clean=permit.clean)
    assert closes == []
    _fail(2, now=1000.0)
    permit = breaker.before_call(P, now=1000.0)
    assert permit.allowed and not permit.clean
    breaker.record_success(P, probe=permit.probe, clean=permit.clean)
    assert closes == [P]
    _fail(2, now=1000.0)  # reset: two more failures do not reach the threshold (3)
    assert breaker.state(P, now=1000.0) == CircuitState.CLOSED


def test_breaker_lets_exactly_one_half_open_probe_through(store: breaker.Storage) -> None:
    _fail(3, now=1000.0)
    after_cooldown = 1031.0
    assert breaker.state(P, now=after_cooldown) == CircuitState.HALF_OPEN
    first = breaker.before_call(P, now=after_cooldown)
    second = breaker.before_call(P, now=after_cooldown)
    assert first.allowed and first.probe
    assert not second.allowed  # another worker (or process) keeps waiting


def test_breaker_probe_success_closes(store: breaker.Storage) -> None:
    _fail(3, now=1000.0)
    opened_at = store.opened_at(P)
    assert opened_at > 0
    permit = breaker.before_call(P, now=1031.0)
    breaker.record_failure(P, probe=permit.probe, now=1031.0)  # re-open: still "open since"
    assert store.opened_at(P) == opened_at
    permit = breaker.before_call(P, now=1062.0)
    breaker.record_success(P, probe=permit.probe)
    assert breaker.state(P) == CircuitState.CLOSED
    assert store.opened_at(P) == 0.0
    assert breaker.before_call(P).allowed


def test_breaker_probe_failure_reopens_for_another_cooldown(store: breaker.Storage) -> None:
    _fail(3, now=1000.0)
    permit = breaker.before_call(P, now=1031.0)
    assert permit.probe
    breaker.record_failure(P, probe=True, now=1031.0)
    assert breaker.state(P, now=1032.0) == CircuitState.OPEN
    assert not breaker.before_call(P, now=1060.0).allowed
    assert breaker.before_call(P, now=1062.0).probe


def test_breaker_providers_are_independent(store: breaker.Storage) -> None:
    _fail(3, now=1000.0)
    assert breaker.state("email", now=1001.0) == CircuitState.CLOSED


@pytest.mark.redis
def test_breaker_redis_state_is_shared_between_storages(settings: Any) -> None:
    settings.INTEGRATIONS_BREAKER_FAILURES = 2
    settings.INTEGRATIONS_BREAKER_COOLDOWN_SECONDS = 30.0
    prefix = f"test:{uuid.uuid4().hex}"
    worker_a = breaker.RedisStorage(django_settings.REDIS_URL, prefix)
    worker_b = breaker.RedisStorage(django_settings.REDIS_URL, prefix)  # another process
    try:
        breaker.use_storage(worker_a)
        breaker.record_failure(P, now=1000.0)
        breaker.use_storage(worker_b)
        breaker.record_failure(P, now=1000.0)
        assert breaker.state(P, now=1001.0) == CircuitState.OPEN
        breaker.use_storage(worker_a)
        assert breaker.state(P, now=1001.0) == CircuitState.OPEN
        assert breaker.before_call(P, now=1031.0).probe
        breaker.use_storage(worker_b)
        assert not breaker.before_call(P, now=1031.0).allowed
    finally:
        breaker.use_storage(None)
