"""Circuit breakers per provider kind, shared by every worker process.

States (per provider):

- **closed**: calls go through; each transient failure counts, a success resets the count;
  ``INTEGRATIONS_BREAKER_FAILURES`` consecutive failures open the circuit.
- **open**: no call reaches the provider for ``INTEGRATIONS_BREAKER_COOLDOWN_SECONDS``; the
  worker reschedules the job without calling (``CIRCUIT_OPEN``).
- **half-open**: after the cool-down exactly ONE caller (across all processes) gets the probe
  (an atomic ``SET NX`` on Redis); its success closes the circuit, its failure re-opens it for
  another cool-down. Everyone else keeps rescheduling meanwhile.

Why not pybreaker's ``CircuitRedisStorage``: pybreaker keeps the half-open transition in the
process (each process would send its own probe) and wraps the call itself, while the worker
must decide *before* claiming a call and record the outcome after classifying it. The state
here is three Redis keys per provider (failures, open-until, probe), so every process sees
the same circuit. Embedded mode (no Redis) keeps them in memory.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from django.conf import settings

from aventide.core.metrics import emit


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Permit:
    """The breaker's answer before a call: go (maybe as the probe), or wait ``retry_in``."""

    allowed: bool
    probe: bool = False
    retry_in: float = 0.0
    #: closed with no failure counted when asked: a success has nothing to reset
    clean: bool = False


class Storage(Protocol):
    def failures_incr(self, provider: str) -> int: ...
    def open_until(self, provider: str) -> float: ...
    def snapshot(self, provider: str) -> tuple[float, int]: ...
    def set_open(self, provider: str, until: float) -> None: ...
    def take_probe(self, provider: str, ttl: float) -> bool: ...
    def close(self, provider: str) -> bool: ...
    def opened_at(self, provider: str) -> float: ...


class MemoryStorage:
    """One process only (embedded mode, tests without Redis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}
        self._probe_until: dict[str, float] = {}
        self._opened_at: dict[str, float] = {}

    def failures_incr(self, provider: str) -> int:
        with self._lock:
            self._failures[provider] = self._failures.get(provider, 0) + 1
            return self._failures[provider]

    def open_until(self, provider: str) -> float:
        return self._open_until.get(provider, 0.0)

    def snapshot(self, provider: str) -> tuple[float, int]:
        """(open until, failures counted)."""
        with self._lock:
            return self._open_until.get(provider, 0.0), self._failures.get(provider, 0)

    def set_open(self, provider: str, until: float) -> None:
        with self._lock:
            self._opened_at.setdefault(provider, time.time())
            self._open_until[provider] = until
            self._failures.pop(provider, None)
            self._probe_until.pop(provider, None)

    def take_probe(self, provider: str, ttl: float) -> bool:
        with self._lock:
            now = time.time()
            if self._probe_until.get(provider, 0.0) > now:
                return False
            self._probe_until[provider] = now + ttl
            return True

    def close(self, provider: str) -> bool:
        """Forget the provider's failures and circuit; True when the circuit was open."""
        with self._lock:
            self._failures.pop(provider, None)
            was_open = bool(self._open_until.pop(provider, 0.0))
            self._probe_until.pop(provider, None)
            self._opened_at.pop(provider, None)
            return was_open

    def opened_at(self, provider: str) -> float:
        return self._opened_at.get(provider, 0.0)


class RedisStorage:
    """Shared by every process on ``REDIS_URL`` (keys under ``INTEGRATIONS_BREAKER_PREFIX``)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, decode_responses=True
        )
        self._prefix = prefix

    def _key(self, provider: str, what: str) -> str:
        return f"{self._prefix}:{provider}:{what}"

    def failures_incr(self, provider: str) -> int:
        key = self._key(provider, "failures")
        pipe = self._client.pipeline()
        pipe.incr(key)
        pipe.expire(key, 3600)
        count, _ = pipe.execute()
        return int(count)

    def open_until(self, provider: str) -> float:
        value = self._client.get(self._key(provider, "open_until"))
        return float(value) if value else 0.0

    def snapshot(self, provider: str) -> tuple[float, int]:
        """(open until, failures counted): one round trip (``MGET``)."""
        until, failures = self._client.mget(
            self._key(provider, "open_until"), self._key(provider, "failures")
        )
        return (float(until) if until else 0.0), (int(failures) if failures else 0)

    def set_open(self, provider: str, until: float) -> None:
        pipe = self._client.pipeline()
        pipe.set(self._key(provider, "opened_at"), repr(time.time()), nx=True, ex=86400)
        pipe.set(self._key(provider, "open_until"), repr(until), ex=86400)
        pipe.delete(self._key(provider, "failures"), self._key(provider, "probe"))
        pipe.execute()

    def take_probe(self, provider: str, ttl: float) -> bool:
        return bool(
            self._client.set(self._key(provider, "probe"), "1", nx=True, px=int(ttl * 1000))
        )

    def close(self, provider: str) -> bool:
        """Forget the provider's failures and circuit; True when the circuit was open. One
        round trip (every successful call closes: it is on the outbox's hot path)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.get(self._key(provider, "open_until"))
        pipe.delete(
            self._key(provider, "failures"),
            self._key(provider, "open_until"),
            self._key(provider, "probe"),
            self._key(provider, "opened_at"),
        )
        until, _ = pipe.execute()
        return bool(until)

    def opened_at(self, provider: str) -> float:
        value = self._client.get(self._key(provider, "opened_at"))
        return float(value) if value else 0.0


_storage: Storage | None = None
_storage_lock = threading.Lock()


def storage() -> Storage:
    global _storage
    if _storage is None:
        with _storage_lock:
            if _storage is None:
                if settings.INTEGRATIONS_BREAKER_STORAGE == "redis" and settings.REDIS_URL:
                    prefix = settings.INTEGRATIONS_BREAKER_PREFIX
                    _storage = RedisStorage(settings.REDIS_URL, prefix)
                else:
                    _storage = MemoryStorage()
    return _storage


def use_storage(new: Storage | None) -> None:
    """Swap the storage (tests); None rebuilds it from settings on next use."""
    global _storage
    _storage = new


def _threshold() -> int:
    return max(1, int(settings.INTEGRATIONS_BREAKER_FAILURES))


def _cooldown() -> float:
    return float(settings.INTEGRATIONS_BREAKER_COOLDOWN_SECONDS)


def state(provider: str, *, now: float | None = None) -> CircuitState:
    until = storage().open_until(provider)
    if not until:
        return CircuitState.CLOSED
    current = time.time() if now is None else now
    return CircuitState.OPEN if current < until else CircuitState.HALF_OPEN


def open_seconds(provider: str, *, now: float | None = None) -> float:
    """How long the circuit has been open (or half-open) without closing; 0 when closed."""
    since = storage().opened_at(provider)
    if not since:
        return 0.0
    return max(0.0, (time.time() if now is None else now) - since)


def open_since(provider: str) -> float | None:
    """Since when (epoch seconds) the circuit has been open or half-open without closing;
    None when it is closed. (A re-open after a failed probe keeps the first opening time.)"""
    store = storage()
    if not store.open_until(provider):
        return None
    since = store.opened_at(provider)
    return since or None


def before_call(provider: str, *, now: float | None = None) -> Permit:
    """May a call to ``provider`` go now? (The half-open probe goes to one caller only.)"""
    store = storage()
    until, failures = store.snapshot(provider)
    if not until:
        return Permit(allowed=True, clean=failures == 0)
    current = time.time() if now is None else now
    if current < until:
        return Permit(allowed=False, retry_in=until - current)
    # Half-open: the probe's claim lasts one call timeout; then another caller may probe.
    ttl = float(settings.INTEGRATIONS_CALL_TIMEOUT_SECONDS) + 5.0
    if store.take_probe(provider, ttl):
        return Permit(allowed=True, probe=True)
    return Permit(allowed=False, retry_in=min(_cooldown(), ttl))


def record_success(provider: str, *, probe: bool = False, clean: bool = False) -> None:
    """The provider answered: reset its failure count and close its circuit (one storage
    call); the ``closed`` metric when it was open (or this was the probe).

    ``clean`` (the ``Permit`` said so): the circuit was closed with no failure counted when
    the call was allowed, so there is nothing to reset and no storage call is made -- the
    outbox's hot path. A failure another process counted meanwhile stays counted until the
    next success whose permit saw it (a circuit under failures can only open sooner)."""
    if clean and not probe:
        return
    was_open = storage().close(provider)
    if probe or was_open:
        emit(
            "METRIC_INTEGRATION_CIRCUIT",
            labels={"provider": provider, "state": CircuitState.CLOSED.value},
        )


def record_failure(provider: str, *, probe: bool = False, now: float | None = None) -> None:
    """A transient failure: count it; open the circuit at the threshold (or on a failed probe)."""
    store = storage()
    current = time.time() if now is None else now
    if probe or store.failures_incr(provider) >= _threshold():
        store.set_open(provider, current + _cooldown())
        emit(
            "METRIC_INTEGRATION_CIRCUIT",
            labels={"provider": provider, "state": CircuitState.OPEN.value},
            cooldownSeconds=_cooldown(),
        )
