"""The contract between the outbox worker and provider adapters.

The worker (``integrations.tasks``) knows only this module: it builds a ``Call`` from a job,
asks the registry (``integrations.providers.registry.adapter_for``) for the adapter of the
job's kind and country, calls ``adapter.execute(call)`` and classifies what comes back:

- an ``Outcome``: the provider did it (``provider_reference`` is its id for the effect);
- ``TransientProviderError`` (timeout, connection error, 5xx, 429 with ``retry_after``):
  retried with backoff -- the same ``idempotency_key`` goes to the provider every time, so
  a retry never doubles the effect;
- ``PermanentProviderError`` (any other 4xx, a refused request): no retry, the job is dead.

Any other exception from an adapter is treated as transient (a bug or an unexpected
answer is not proof that the provider refused).

Adapters never see the database. Each kind also has a typed interface (``PaymentsProvider``,
...) whose methods the adapter implements; ``execute`` maps the operation name to the method.
Error ``detail`` strings are stored and logged: adapters must keep PII, secrets and raw
bodies out of them (they are redacted again before storage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Kind(StrEnum):
    PAYMENTS = "payments"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    COURIER = "courier"
    STORAGE = "storage"
    GEOCODING = "geocoding"
    TAX = "tax"


@dataclass(frozen=True)
class Call:
    """One call of a job to its provider."""

    kind: str
    operation: str  # e.g. "payment.create", "refund.create", "email.send", "shipment.create"
    payload: Mapping[str, Any]
    idempotency_key: str  # sent to the provider as its idempotency key
    country_code: str
    timeout_seconds: float
    attempt: int = 1


@dataclass(frozen=True)
class Outcome:
    """What the provider did: its reference for the effect, and data worth keeping."""

    provider_reference: str
    data: Mapping[str, Any] = field(default_factory=dict)


class ProviderError(Exception):
    """A provider call that did not succeed. ``code`` is stable (UPPER_SNAKE), ``detail`` is
    short, redacted human text, ``status_code`` the provider's HTTP status when there was one."""

    code: str = "PROVIDER_ERROR"

    def __init__(
        self, detail: str = "", *, status_code: int | None = None, code: str | None = None
    ) -> None:
        self.detail = detail[:500]
        self.status_code = status_code
        if code is not None:
            self.code = code
        super().__init__(self.detail or self.code)


class TransientProviderError(ProviderError):
    """Worth retrying: timeout, connection error, 5xx, 429 (``retry_after`` in seconds)."""

    code = "PROVIDER_UNAVAILABLE"

    def __init__(
        self,
        detail: str = "",
        *,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, status_code=status_code, code=code)
        self.retry_after = retry_after


class ProviderTimeout(TransientProviderError):
    code = "PROVIDER_TIMEOUT"


class PermanentProviderError(ProviderError):
    """Never worth retrying as is: the provider refused the request (4xx other than 429)."""

    code = "PROVIDER_REFUSED"


class JobObsolete(PermanentProviderError):
    """The work no longer applies -- its target is gone (a push subscription the push service
    answers 410 for), it expired, or its feature is switched off. Not a failure anyone has to
    look at: the job ends ``discarded`` at once with the code as its reason -- never retried,
    not in the DLQ, no alert. Result listeners hear it (status ``discarded``)."""

    code = "JOB_OBSOLETE"


@runtime_checkable
class Adapter(Protocol):
    """What the worker calls. ``name`` identifies the implementation ("sandbox", "smtp",
    "stripe", ...); ``kind`` is a ``Kind`` value."""

    name: str
    kind: str

    def execute(self, call: Call) -> Outcome: ...
