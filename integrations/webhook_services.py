"""Inbound webhooks: verify, store once per ``(provider, event_id)``, process after commit.

Flow (``POST /api/integrations/webhooks/<provider>``, docs/operations/integrations.md):

1. `require_provider`: the provider must be a key of ``INTEGRATIONS_WEBHOOK_PROVIDERS``
   (else 404 ``NOT_FOUND``, before the body is read).
2. `webhook_receive`: the signature (``X-Aventide-Signature``; the payments provider also
   ``Stripe-Signature``, same construction) is checked against ``WEBHOOK_SECRET_<PROVIDER>``
   (400 ``WEBHOOK_SIGNATURE_INVALID``), then the body must be a JSON object with a string
   ``id`` and ``type`` (400 ``VALIDATION_ERROR``). Nothing is stored before both pass.
   The event is inserted with ``INSERT ... ON CONFLICT (provider, event_id) DO NOTHING``
   inside one use-case frame (as ``SYSTEM``): a duplicate, even a concurrent one, inserts
   nothing and is acknowledged (200, ``duplicate: true``) without being processed again.
   A new event writes ``integration.webhook_received`` and, in the same transaction, an outbox
   job of kind ``inbound`` (`run_inbound`): processing gets the outbox's dispatch after
   commit, durable retry schedule with backoff, DLQ, replay and alerts.
3. `process_event`: locks the row, skips it when already processed or ignored, calls the
   handler registered for ``(provider, event_type)`` inside a use-case frame as ``SYSTEM``
   and marks it processed (``integration.webhook_processed``), all in one transaction.
   No handler -> ``ignored`` (stored and acknowledged, never dispatched). A handler that
   raises `RetryLater` leaves the event ``received`` (pending) for a retry; any other
   exception rolls the handler's writes back, marks the event ``failed`` (attempts,
   redacted ``last_error``) and re-raises; `run_inbound` turns both into a transient failure
   of the job, so the outbox retries it and, after its attempts, dead-letters it.

Handlers (registered by domain apps at ``AppConfig.ready()`` with `register_handler`) must
be **idempotent** (an event may be processed again after a crash between the handler's
effects and the commit -- they share the transaction, so normally it cannot -- or be
delivered under a new event id by the provider) and **order-tolerant**: providers deliver
out of order (a refund before its capture). A handler that finds its precondition missing
raises `RetryLater`; it never half-applies or corrupts state.

Payloads are stored redacted like log lines (`aventide.core.logging.redact_mapping`: no
emails, phones, tokens), except the fields in `KEEP_PATHS` that handlers need (ids, amounts,
currency, ``metadata.order_id``). Raw bodies, signatures and secrets are never logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit import services as audit
from aventide.accounts.contracts import use_case
from aventide.core import metrics
from aventide.core.body_limit import PayloadTooLarge, max_body_bytes_for, too_large_message
from aventide.core.errors import ValidationFailed
from aventide.core.logging import get_logger, redact_mapping, redact_text
from aventide.core.parsers import loads_strict, max_json_depth
from aventide.core.principal import SYSTEM
from integrations import services as outbox
from integrations import signing
from integrations.models import WebhookEvent
from integrations.providers.base import Call, Outcome, TransientProviderError
from integrations.webhook_audit_actions import WebhookAction
from integrations.webhook_errors import WebhookProviderUnknown, WebhookSignatureInvalid

__all__ = [
    "KEEP_PATHS",
    "METRIC_INTEGRATION_WEBHOOK",
    "InboundEvent",
    "RetryLater",
    "WebhookHandler",
    "WebhookReceipt",
    "handler_for",
    "note_rejected_body",
    "parse_event",
    "process_event",
    "redact_payload",
    "register_handler",
    "require_provider",
    "run_inbound",
    "webhook_body_too_large",
    "webhook_providers",
    "webhook_receive",
]

logger = get_logger("integrations.webhooks")

METRIC_INTEGRATION_WEBHOOK = "METRIC_INTEGRATION_WEBHOOK"
UNKNOWN_PROVIDER_LABEL = "unknown"  # never the path's text: labels must stay a small set

_EVENT_ID_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII (Stripe: evt_...)
_EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")

#: Payload fields kept verbatim through the redaction (scalars only): what handlers need.
KEEP_PATHS: tuple[tuple[str, ...], ...] = (
    ("id",),
    ("type",),
    ("created",),
    ("livemode",),
    ("data", "object", "id"),
    ("data", "object", "object"),
    ("data", "object", "amount"),
    ("data", "object", "amount_refunded"),
    ("data", "object", "currency"),
    ("data", "object", "status"),
    ("data", "object", "payment_intent"),
    ("data", "object", "charge"),
    ("data", "object", "reference"),
    ("data", "object", "tracking_code"),
    ("data", "object", "reason"),
    ("data", "object", "metadata", "order_id"),
)


# --- handler registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class InboundEvent:
    """What a handler receives: the stored event (payload redacted except `KEEP_PATHS`)."""

    provider: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    received_at: datetime
    signed_at: datetime | None
    attempt: int


WebhookHandler = Callable[[InboundEvent], None]


class RetryLater(Exception):
    """Raised by a handler whose precondition is not met yet (a refund before its capture):
    the event stays ``received`` (pending) and is retried; it is not a failure."""

    def __init__(self, reason: str = "precondition not met yet") -> None:
        self.reason = reason
        super().__init__(reason)


_HANDLERS: dict[tuple[str, str], WebhookHandler] = {}


def register_handler(provider: str, event_type: str, fn: WebhookHandler) -> None:
    """Register ``fn`` for ``(provider, event_type)``; call it at ``AppConfig.ready()``.

    One handler per pair (registering the same function again is a no-op; another one is a
    programming error). ``fn`` runs inside the event's use-case frame as ``SYSTEM``: its
    services join that transaction. It must be idempotent and order-tolerant (module
    docstring) and raise `RetryLater` when it must wait for another event."""
    key = (provider, event_type)
    existing = _HANDLERS.get(key)
    if existing is not None and existing is not fn:
        raise ValueError(f"a webhook handler for {provider}/{event_type} is already registered")
    _HANDLERS[key] = fn


def handler_for(provider: str, event_type: str) -> WebhookHandler | None:
    return _HANDLERS.get((provider, event_type))


# --- receiving ------------------------------------------------------------------------------


def webhook_providers() -> list[str]:
    """The provider names the endpoint accepts (``INTEGRATIONS_WEBHOOK_PROVIDERS``)."""
    return [str(name) for name in getattr(settings, "INTEGRATIONS_WEBHOOK_PROVIDERS", {})]


def _signature_headers(provider: str) -> list[str]:
    configured = getattr(settings, "INTEGRATIONS_WEBHOOK_PROVIDERS", {})
    headers = configured.get(provider) if isinstance(configured, Mapping) else None
    return [str(h) for h in headers] if headers else [signing.SIGNATURE_HEADER]


def _emit(provider: str, outcome: str) -> None:
    metrics.emit(METRIC_INTEGRATION_WEBHOOK, labels={"provider": provider, "outcome": outcome})


def require_provider(provider: str) -> None:
    """404 ``NOT_FOUND`` unless ``provider`` is a configured webhook provider."""
    if provider not in webhook_providers():
        _emit(UNKNOWN_PROVIDER_LABEL, "unknown_provider")
        raise WebhookProviderUnknown()


def webhook_body_too_large(provider: str, limit: int) -> PayloadTooLarge:
    """The 413 to raise for a body over ``limit`` (counted in the webhook metric)."""
    _emit(provider, "too_large")
    return PayloadTooLarge(too_large_message(limit))


def note_rejected_body(path: str) -> None:
    """Body-limit listener (``aventide.core.body_limit``): count a 413 that the ASGI
    middleware answered before routing, when it was aimed at the webhook endpoint."""
    prefix = str(getattr(settings, "INTEGRATIONS_WEBHOOK_PATH_PREFIX", ""))
    if not prefix or not path.startswith(prefix):
        return
    name = path[len(prefix) :].strip("/")
    _emit(name if name in webhook_providers() else UNKNOWN_PROVIDER_LABEL, "too_large")


@dataclass(frozen=True)
class WebhookReceipt:
    """The outcome of one delivery: the stored event's id when it is new, else None."""

    provider: str
    event_id: str
    event_type: str
    event_pk: int | None

    @property
    def duplicate(self) -> bool:
        return self.event_pk is None


@dataclass(frozen=True)
class ParsedEvent:
    event_id: str
    event_type: str
    payload: dict[str, Any]


MAX_STORED_TEXT = 1024  # longer strings are stored as a marker (handlers need ids, amounts)


def _clip(text: str) -> str:
    text = text.replace("\x00", "")
    return text if len(text) <= MAX_STORED_TEXT else f"[{len(text)} characters not stored]"


def _storable(value: Any) -> Any:
    """PostgreSQL text/jsonb cannot hold U+0000: it is dropped from strings and keys. Long
    strings are replaced by a marker before the redaction, whose regexes are not linear on
    long text (the depth is already capped by ``loads_strict``)."""
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, dict):
        return {_clip(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _lookup(data: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def redact_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` redacted like a log line, with `KEEP_PATHS` restored from the original
    (scalars only, and only where the redacted copy kept the enclosing objects)."""
    redacted = redact_mapping(payload)
    for path in KEEP_PATHS:
        found, value = _lookup(payload, path)
        if not found or not (value is None or isinstance(value, str | int | float | bool)):
            continue
        parent_found, parent = _lookup(redacted, path[:-1])
        if parent_found and isinstance(parent, dict):
            parent[path[-1]] = value
    return redacted


def parse_event(body: bytes) -> ParsedEvent:
    """The event in ``body``: a JSON object with a string ``id`` and ``type`` (400
    ``VALIDATION_ERROR`` otherwise, with the same strict JSON rules as every endpoint)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The webhook body is not valid UTF-8 text.") from None
    data = loads_strict(text, max_depth=max_json_depth())
    if not isinstance(data, dict):
        raise ValidationFailed(details={"body": ["A JSON object is required."]})
    problems: dict[str, list[str]] = {}
    event_id, event_type = data.get("id"), data.get("type")
    if not isinstance(event_id, str) or not _EVENT_ID_RE.match(event_id):
        problems["id"] = ["A string of 1 to 255 visible ASCII characters is required."]
    if not isinstance(event_type, str) or not _EVENT_TYPE_RE.match(event_type):
        problems["type"] = ["An event type like payment.captured is required."]
    if problems:
        raise ValidationFailed(details=problems)
    assert isinstance(event_id, str) and isinstance(event_type, str)  # narrowed above
    return ParsedEvent(event_id, event_type, redact_payload(_storable(data)))


def _find_header(headers: Mapping[str, str], names: list[str]) -> str | None:
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None:
            return str(value)
    return None


def _insert_once(
    *, provider: str, parsed: ParsedEvent, received_at: datetime, signed_at: datetime
) -> int | None:
    """``INSERT ... ON CONFLICT (provider, event_id) DO NOTHING RETURNING id``: the new row's
    id, or None when the event was already stored (also by a concurrent transaction: the
    insert waits for it, then does nothing). No savepoint, no IntegrityError, one statement
    (PostgreSQL, and SQLite >= 3.35)."""
    meta = WebhookEvent._meta
    values: dict[str, Any] = {
        "provider": provider,
        "event_id": parsed.event_id,
        "event_type": parsed.event_type,
        "payload": parsed.payload,
        "received_at": received_at,
        "signed_at": signed_at,
        "status": WebhookEvent.Status.RECEIVED,
        "attempts": 0,
        "processed_at": None,
        "last_error": "",
    }
    qn = connection.ops.quote_name
    by_name = {f.name: f for f in meta.concrete_fields}
    fields = [by_name[name] for name in values]
    columns = ", ".join(qn(str(f.column)) for f in fields)
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    # Identifiers come from the model's meta, values are parameters.
    placeholders = ", ".join(["%s"] * len(params))
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
        f" ON CONFLICT ({qn('provider')}, {qn('event_id')}) DO NOTHING RETURNING {qn('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def webhook_receive(
    *, provider: str, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> WebhookReceipt:
    """Verify, parse and store one delivery (module docstring, step 2).

    Raises 404 ``NOT_FOUND`` (unknown provider), 413 ``PAYLOAD_TOO_LARGE``, 400
    ``WEBHOOK_SIGNATURE_INVALID`` or 400 ``VALIDATION_ERROR``, storing nothing. Idempotent:
    the first delivery of ``(provider, id)`` inserts and enqueues its processing after
    commit; every other one (even concurrent) returns ``duplicate`` and changes nothing.
    One transaction, 2 statements for a new event (insert + audit row), 1 for a duplicate.
    """
    require_provider(provider)
    limit = max_body_bytes_for(f"{settings.INTEGRATIONS_WEBHOOK_PATH_PREFIX}{provider}")
    if len(body) > limit:
        raise webhook_body_too_large(provider, limit)
    try:
        signed = signing.verify(
            body,
            _find_header(headers, _signature_headers(provider)),
            secrets=signing.secrets_for(provider),
            tolerance_seconds=int(getattr(settings, "WEBHOOK_SIGNATURE_TOLERANCE_SECONDS", 300)),
            now=now,
        )
    except signing.SignatureInvalid as exc:
        logger.warning("WEBHOOK_SIGNATURE_INVALID", provider=provider, reason=exc.reason)
        _emit(provider, "signature_invalid")
        raise WebhookSignatureInvalid() from None
    try:
        parsed = parse_event(body)
    except ValidationFailed:
        logger.warning("WEBHOOK_INVALID", provider=provider)
        _emit(provider, "invalid")
        raise
    signed_at = datetime.fromtimestamp(signed, tz=UTC)
    with use_case(SYSTEM):
        pk = _insert_once(
            provider=provider, parsed=parsed, received_at=timezone.now(), signed_at=signed_at
        )
        if pk is not None:
            audit.record(
                WebhookAction.RECEIVED,
                ("webhook_event", pk),
                data={
                    "provider": provider,
                    "eventId": parsed.event_id,
                    "eventType": parsed.event_type,
                },
                country_code="",
            )
            outbox.enqueue(
                kind=INBOUND_KIND,
                operation=INBOUND_OPERATION,
                payload={"event": pk},
                idempotency_key=f"webhook-event:{pk}",
                country_code="",
            )
    receipt = WebhookReceipt(provider, parsed.event_id, parsed.event_type, pk)
    outcome = "duplicate" if receipt.duplicate else "accepted"
    logger.info(
        "WEBHOOK_RECEIVED",
        provider=provider,
        webhookEventId=parsed.event_id,
        eventType=parsed.event_type,
        outcome=outcome,
    )
    _emit(provider, outcome)
    return receipt


# --- processing -----------------------------------------------------------------------------

PROCESSED = "processed"
IGNORED = "ignored"
ALREADY_DONE = "already_done"
MISSING = "missing"


def _error_text(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}")[:500]


def _record_attempt(event_pk: int, *, status: str, error: str) -> None:
    """After a rolled-back try: count the attempt and keep the (redacted) error."""
    with use_case(SYSTEM) as uc:
        event = uc.lock(WebhookEvent.objects.filter(pk=event_pk))
        if event is None or event.status in (
            WebhookEvent.Status.PROCESSED,
            WebhookEvent.Status.IGNORED,
        ):
            return
        event.attempts += 1
        event.status = status
        event.last_error = error
        event.save(update_fields=["attempts", "status", "last_error"])


def process_event(event_pk: int) -> str:
    """Process one stored event (module docstring, step 3); safe to run twice or
    concurrently (the row lock serializes, a processed event is skipped).

    Returns ``processed``, ``ignored`` (no handler), ``already_done`` or ``missing``.
    Raises `RetryLater` (event left ``received``) or the handler's exception (event
    ``failed``) after recording the attempt, so the caller's retry path runs again later.
    The registration name for the outbox's local executors is ``"inbound"``.
    """
    try:
        with use_case(SYSTEM) as uc:
            event = uc.lock(WebhookEvent.objects.filter(pk=event_pk))
            if event is None:
                return MISSING
            if event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
                return ALREADY_DONE
            handler = handler_for(event.provider, event.event_type)
            event.attempts += 1
            event.processed_at = timezone.now()
            event.last_error = ""
            if handler is None:
                event.status = WebhookEvent.Status.IGNORED
            else:
                handler(
                    InboundEvent(
                        provider=event.provider,
                        event_id=event.event_id,
                        event_type=event.event_type,
                        payload=dict(event.payload),
                        received_at=event.received_at,
                        signed_at=event.signed_at,
                        attempt=event.attempts,
                    )
                )
                event.status = WebhookEvent.Status.PROCESSED
            event.save(update_fields=["attempts", "processed_at", "last_error", "status"])
            audit.record(
                WebhookAction.PROCESSED,
                ("webhook_event", event.pk),
                data={
                    "provider": event.provider,
                    "eventId": event.event_id,
                    "eventType": event.event_type,
                    "outcome": event.status,
                    "attempts": event.attempts,
                },
                country_code="",
            )
            outcome = str(event.status)
    except RetryLater as exc:
        _record_attempt(
            event_pk, status=WebhookEvent.Status.RECEIVED, error=f"retry later: {exc.reason}"
        )
        logger.info("WEBHOOK_EVENT_RETRY_LATER", eventPk=event_pk, reason=exc.reason)
        raise
    except Exception as exc:
        _record_attempt(event_pk, status=WebhookEvent.Status.FAILED, error=_error_text(exc))
        logger.warning("WEBHOOK_EVENT_FAILED", eventPk=event_pk, error=type(exc).__name__)
        raise
    logger.info("WEBHOOK_EVENT_PROCESSED", eventPk=event_pk, outcome=outcome)
    return outcome


INBOUND_KIND = "inbound"
INBOUND_OPERATION = "webhook.process"


def run_inbound(call: Call) -> Outcome:
    """The outbox's executor for jobs of kind ``inbound`` (registered at ``ready()``): process
    the stored event. ``RetryLater`` and a failing handler are transient for the outbox, so
    the event gets its retry schedule with backoff, then the DLQ, replay and alerts."""
    event_pk = int(call.payload["event"])
    try:
        outcome = process_event(event_pk)
    except RetryLater as exc:
        raise TransientProviderError(
            f"retry later: {exc.reason}", code="WEBHOOK_RETRY_LATER"
        ) from None
    except Exception as exc:  # noqa: BLE001 -- any handler failure is retried, then dead-lettered
        raise TransientProviderError(_error_text(exc), code="WEBHOOK_HANDLER_FAILED") from None
    return Outcome(provider_reference=f"webhook_event:{event_pk}", data={"outcome": outcome})
