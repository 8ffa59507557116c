"""What domain apps plug into the outbox (registered at ``AppConfig.ready()``; public through
``integrations.contracts``). Integrations knows nothing of orders: these registries are how
it tells them about work it did for them.

- **Renderers** build a job's provider payload at call time from a payload that names them
  (``{"render": "<name>", "params": {...}}``). Use one when the message must carry something
  that must not rest in the outbox row, the audit trail or the logs -- the recipient's link
  signature, a fresh URL -- or must be rendered from current data. The renderer runs in the
  worker, outside any transaction, before the adapter is called; it returns the payload the
  operation documents (``email.send``: ``to``, ``subject``, ``body``). A renderer that raises
  ``PermanentProviderError`` dead-letters the job; any other exception is transient.
- **Result listeners** hear how a job ended: ``succeeded``, ``dead`` or ``discarded`` (the
  adapter or renderer raised ``JobObsolete``: the work no longer applies) -- and ``replayed``
  jobs end again. A listener runs inside the transaction that settles the job, as the system
  principal, in a savepoint of its own: its writes commit with the job's status, and a
  listener that raises is logged and counted (``METRIC_INTEGRATION_LISTENER_FAILED``) without
  blocking the job or the other listeners.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from aventide.core.logging import get_logger
from aventide.core.metrics import emit
from integrations.providers.base import PermanentProviderError

__all__ = [
    "RENDER_KEY",
    "JobOutcome",
    "Renderer",
    "ResultListener",
    "notify_result",
    "register_renderer",
    "register_result_listener",
    "render_payload",
]

logger = get_logger("aventide.integrations")

RENDER_KEY = "render"
PARAMS_KEY = "params"

Renderer = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended, as a listener sees it (the payload is the stored, unrendered one)."""

    job_id: int
    kind: str
    operation: str
    status: str  # "succeeded" | "dead" | "discarded" (``JobObsolete``: the work no longer applies)
    idempotency_key: str
    country_code: str
    payload: Mapping[str, Any]
    provider_reference: str
    error_code: str
    #: the provider refused the request itself (a 4xx other than 429): retrying cannot help.
    permanent: bool
    attempts: int


ResultListener = Callable[[JobOutcome], None]

_RENDERERS: dict[str, Renderer] = {}
_LISTENERS: dict[tuple[str, str], list[ResultListener]] = {}


def register_renderer(name: str, fn: Renderer) -> None:
    """Render payloads that say ``{"render": name, ...}``. One renderer per name."""
    existing = _RENDERERS.get(name)
    if existing is not None and existing is not fn:
        raise ValueError(f"a payload renderer named {name!r} is already registered")
    _RENDERERS[name] = fn


def render_payload(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The payload to send: rendered when it names a renderer, else as stored."""
    name = payload.get(RENDER_KEY)
    if name is None:
        return payload
    fn = _RENDERERS.get(str(name))
    if fn is None:
        raise PermanentProviderError(f"no renderer named {str(name)[:64]!r}", code="RENDER_UNKNOWN")
    params = payload.get(PARAMS_KEY) or {}
    if not isinstance(params, Mapping):
        raise PermanentProviderError("render params must be an object", code="RENDER_INVALID")
    return fn(params)


def register_result_listener(kind: str, operation: str, fn: ResultListener) -> None:
    """Call ``fn(outcome)`` when a job of ``(kind, operation)`` succeeds or dies."""
    listeners = _LISTENERS.setdefault((kind, operation), [])
    if fn not in listeners:
        listeners.append(fn)


def has_listeners(kind: str, operation: str) -> bool:
    """Whether any app listens to the results of ``kind``/``operation`` jobs."""
    return bool(_LISTENERS.get((kind, operation)))


def notify_result(outcome: JobOutcome) -> None:
    """Run the listeners of the outcome's job (inside the settling transaction)."""
    for fn in _LISTENERS.get((outcome.kind, outcome.operation), ()):
        try:
            with transaction.atomic():
                fn(outcome)
        except Exception as exc:  # noqa: BLE001 -- a listener never blocks the outbox
            emit(
                "METRIC_INTEGRATION_LISTENER_FAILED",
                labels={"provider": outcome.kind, "error": type(exc).__name__},
                jobId=outcome.job_id,
            )
            logger.error(
                "INTEGRATION_LISTENER_FAILED",
                jobId=outcome.job_id,
                provider=outcome.kind,
                operation=outcome.operation,
                error=type(exc).__name__,
            )
