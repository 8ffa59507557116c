"""Kinds executed in-process instead of by a provider adapter.

``register_local("inbound", fn)`` (at ``AppConfig.ready()``) makes jobs of kind ``inbound``
run ``fn(call)`` through the same outbox path (claim, attempts, retry with backoff, DLQ,
audit). ``fn`` returns an ``Outcome`` or raises the provider errors of
``integrations.providers.base`` (transient: retried; permanent: dead at once). Local kinds
skip the circuit breaker (there is no remote provider to protect).
"""

from __future__ import annotations

from collections.abc import Callable

from integrations.providers.base import Call, Outcome

LocalExecutor = Callable[[Call], Outcome]

_LOCAL: dict[str, LocalExecutor] = {}


def register_local(kind: str, fn: LocalExecutor) -> None:
    """Execute jobs of ``kind`` with ``fn`` (replaces an earlier registration)."""
    _LOCAL[kind] = fn


def unregister_local(kind: str) -> None:
    _LOCAL.pop(kind, None)


def local_executor(kind: str) -> LocalExecutor | None:
    return _LOCAL.get(kind)


def is_local(kind: str) -> bool:
    return kind in _LOCAL
