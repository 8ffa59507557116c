"""Sandbox providers: one adapter per kind that behaves like a real provider, with no network
I/O except the signed webhooks it sends back to our own endpoint.

What an operator sees (settings ``INTEGRATIONS_SANDBOX``, env ``SANDBOX_*``, read on every call
so a drill or a test can change them live):

- **provider ids** derived from the idempotency key (``pi_sbx_<hash>``): a retry with the same
  key returns the same id and does not repeat the effect. ``LEDGER`` (in process) counts calls
  and effects per key; tests and drills read it (``LEDGER.effects``, ``LEDGER.calls(key)``).
- **latency** ``latency_ms`` per call; when it exceeds the call's timeout the sandbox waits the
  timeout and raises ``ProviderTimeout`` (as a slow provider would).
- **failures** ``failure_mode`` = ``none|timeout|5xx|429|4xx`` with ``error_rate`` (0..1; 1.0 when
  only a mode is set, ``5xx`` when only a rate is set), per kind in ``per_kind``. ``timeout``
  fails *after* the effect (the provider did it, the answer was lost), so its retry shows the
  idempotency at work; the other modes fail before the effect. ``429`` carries
  ``retry_after`` (``retry_after_seconds``). With ``seed`` set, whether a call fails is a pure
  function of (seed, kind, operation, key, attempt): runs are reproducible.
- **webhooks** after the first effect of ``payment.create`` (``payment.captured``),
  ``refund.create`` (``refund.succeeded``) and ``shipment.create`` (``delivered`` or
  ``attempt_failed``, ``courier_outcome``): a Stripe-shaped event, signed with
  ``signing.sign(body, secret=secrets_for(provider)[0])`` in ``X-Aventide-Signature``, handed
  to the deliver function. The default posts it with httpx to
  ``{webhook_base_url}/api/integrations/webhooks/{provider}`` after ``webhook_delay_ms``, on a
  small bounded pool of background threads (a full queue drops the webhook with a warning
  rather than block the caller), and redelivered like a real provider's while our endpoint
  answers 5xx/429 or is unreachable (``webhook_attempts``, default 5; waits of 1, 2, 4, 8 s).
  Plug another one with ``use_deliver(fn)`` (tests) or the
  ``deliver`` setting (a dotted path, e.g. an in-process call in embedded mode).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from aventide.core.logging import get_logger, redact_text
from integrations import signing
from integrations.providers.base import (
    Kind,
    PermanentProviderError,
    ProviderTimeout,
    TransientProviderError,
)
from integrations.providers.kinds import (
    CallContext,
    EmailRequest,
    GeocodeRequest,
    GeocodeResult,
    KindAdapter,
    MessageResult,
    PaymentRequest,
    PaymentResult,
    PushRequest,
    RefundRequest,
    ShipmentRequest,
    ShipmentResult,
    SmsRequest,
    StorageBlob,
    StorageNameRequest,
    StoragePutRequest,
    StorageUrl,
    StoredObject,
    TaxQuote,
    TaxQuoteRequest,
)

log = get_logger("integrations.sandbox")

FAILURE_MODES = ("none", "timeout", "5xx", "429", "4xx")
COURIER_DELIVERED = "delivered"
COURIER_ATTEMPT_FAILED = "attempt_failed"
PAYMENT_CAPTURED = "payment.captured"
REFUND_SUCCEEDED = "refund.succeeded"
WEBHOOK_PATH = "/api/integrations/webhooks/{provider}"

Deliver = Callable[[str, bytes, dict[str, str]], None]


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxConfig:
    """The effective sandbox settings for one kind."""

    latency_ms: int = 0
    error_rate: float = 0.0
    failure_mode: str = "none"
    retry_after_seconds: float = 1.0
    seed: int | None = None
    webhooks: bool = True
    webhook_base_url: str = "http://127.0.0.1:8000"
    webhook_delay_ms: int = 0
    webhook_timeout_seconds: float = 5.0
    #: deliveries of one webhook while the endpoint answers 5xx/429 or cannot be reached
    #: (a real provider redelivers); the waits between them double from 1 s
    webhook_attempts: int = 5
    courier_outcome: str = COURIER_DELIVERED
    deliver: str = ""


def config_for(kind: str) -> SandboxConfig:
    """``settings.INTEGRATIONS_SANDBOX`` with ``per_kind[kind]`` on top, normalized."""
    raw: Mapping[str, Any] = getattr(settings, "INTEGRATIONS_SANDBOX", {}) or {}
    merged: dict[str, Any] = {k: v for k, v in raw.items() if k != "per_kind"}
    merged.update((raw.get("per_kind") or {}).get(kind, {}))
    mode = str(merged.get("failure_mode") or "none").lower()
    if mode not in FAILURE_MODES:
        raise ValueError(f"SANDBOX failure_mode must be one of {FAILURE_MODES}, got {mode!r}")
    rate = merged.get("error_rate")
    if rate is None or rate == "":
        rate = 0.0 if mode == "none" else 1.0
    rate = min(max(float(rate), 0.0), 1.0)
    if rate > 0 and mode == "none":
        mode = "5xx"
    seed = merged.get("seed")
    outcome = str(merged.get("courier_outcome") or COURIER_DELIVERED)
    if outcome not in (COURIER_DELIVERED, COURIER_ATTEMPT_FAILED):
        raise ValueError(
            f"SANDBOX courier_outcome must be delivered|attempt_failed, got {outcome!r}"
        )
    defaults = SandboxConfig()
    return SandboxConfig(
        latency_ms=max(int(merged.get("latency_ms") or 0), 0),
        error_rate=rate,
        failure_mode=mode,
        retry_after_seconds=float(merged.get("retry_after_seconds", defaults.retry_after_seconds)),
        seed=None if seed is None or seed == "" else int(seed),
        webhooks=bool(merged.get("webhooks", True)),
        webhook_base_url=str(merged.get("webhook_base_url") or defaults.webhook_base_url).rstrip(
            "/"
        ),
        webhook_delay_ms=max(int(merged.get("webhook_delay_ms") or 0), 0),
        webhook_timeout_seconds=float(
            merged.get("webhook_timeout_seconds") or defaults.webhook_timeout_seconds
        ),
        webhook_attempts=max(int(merged.get("webhook_attempts") or defaults.webhook_attempts), 1),
        courier_outcome=outcome,
        deliver=str(merged.get("deliver") or ""),
    )


# --- the ledger: what the sandbox provider has done --------------------------------------------


class Ledger:
    """Calls and effects per idempotency key, in this process (thread-safe).

    ``effects`` counts distinct keys that produced an effect (a payment, a message, ...);
    ``calls(key)`` every call that reached the provider with that key (failed ones included);
    ``references`` the provider id per key. ``reset()`` between tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._effects: dict[str, str] = {}
        self._objects: dict[str, tuple[bytes, str]] = {}

    def _scoped(self, kind: str, key: str) -> str:
        return f"{kind}:{key}"

    def record_call(self, kind: str, key: str) -> None:
        with self._lock:
            self._calls[self._scoped(kind, key)] += 1

    def record_effect(self, kind: str, key: str, reference: str) -> bool:
        """Record the effect of ``key``; ``False`` when it already happened (a retry)."""
        with self._lock:
            scoped = self._scoped(kind, key)
            if scoped in self._effects:
                return False
            self._effects[scoped] = reference
            return True

    def calls(self, key: str, kind: str = "") -> int:
        with self._lock:
            if kind:
                return self._calls[self._scoped(kind, key)]
            return sum(n for k, n in self._calls.items() if k.split(":", 1)[1] == key)

    def effect_count(self, key: str, kind: str = "") -> int:
        """1 when ``key`` had its effect (never more: that is the point), else 0."""
        with self._lock:
            if kind:
                return int(self._scoped(kind, key) in self._effects)
            return sum(1 for k in self._effects if k.split(":", 1)[1] == key)

    @property
    def effects(self) -> int:
        with self._lock:
            return len(self._effects)

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def reference(self, key: str, kind: str) -> str | None:
        with self._lock:
            return self._effects.get(self._scoped(kind, key))

    def put_object(self, name: str, content: bytes, content_type: str) -> None:
        with self._lock:
            self._objects[name] = (content, content_type)

    def get_object(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._objects.get(name)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._effects.clear()
            self._objects.clear()


LEDGER = Ledger()


def provider_id(prefix: str, kind: str, operation: str, key: str) -> str:
    """The provider's id for the effect of ``key``: stable across retries and processes."""
    digest = hashlib.sha256(f"{kind}\x1f{operation}\x1f{key}".encode()).hexdigest()
    return f"{prefix}_sbx_{digest[:24]}"


# --- webhook delivery ----------------------------------------------------------------------

_override_lock = threading.Lock()
_deliver_override: list[Deliver] = []
_MAX_PENDING_WEBHOOKS = 256
_pending = threading.BoundedSemaphore(_MAX_PENDING_WEBHOOKS)
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-webhook")
        return _executor


#: first wait between deliveries of one webhook (doubling each time)
WEBHOOK_RETRY_BASE_SECONDS = 1.0


def _post(
    url: str, body: bytes, headers: dict[str, str], delay: float, timeout: float, attempts: int
) -> None:
    """Deliver one webhook, redelivering like a real provider while our endpoint answers
    5xx/429 or cannot be reached (a deploy, a database cut: the event must not be lost), up
    to ``attempts`` deliveries with waits of 1, 2, 4... s. A 2xx or another 4xx ends it (a
    refusal is an answer: the signature, the body). The event id is the same every time, so
    the receiver's dedupe makes a redelivery harmless."""
    try:
        if delay > 0:
            time.sleep(delay)
        for attempt in range(1, attempts + 1):
            outcome: str
            try:
                response = httpx.post(url, content=body, headers=headers, timeout=timeout)
            except httpx.HTTPError as exc:
                outcome, status = exc.__class__.__name__, 0
            else:
                status = response.status_code
                if status < 300:
                    return
                outcome = "rejected"
                if status < 500 and status != 429:
                    log.warning("SANDBOX_WEBHOOK_REJECTED", url=redact_text(url), status=status)
                    return
            if attempt == attempts:
                log.warning(
                    "SANDBOX_WEBHOOK_FAILED",
                    url=redact_text(url),
                    error=outcome,
                    status=status,
                    attempts=attempts,
                )
                return
            time.sleep(WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    finally:
        _pending.release()


def http_deliver(provider: str, body: bytes, headers: dict[str, str]) -> None:
    """The default deliver: POST to ``{webhook_base_url}/api/integrations/webhooks/{provider}``
    after ``webhook_delay_ms``, on a background thread, redelivered while our endpoint answers
    5xx/429 or is unreachable (``webhook_attempts``, see ``_post``). Returns at once; when
    ``_MAX_PENDING_WEBHOOKS`` are already waiting the webhook is dropped with a warning (a real
    provider would redeliver; the drill notices)."""
    cfg = config_for(provider)
    url = cfg.webhook_base_url + WEBHOOK_PATH.format(provider=provider)
    if not _pending.acquire(timeout=0.05):
        log.warning("SANDBOX_WEBHOOK_DROPPED", provider=provider, reason="queue full")
        return
    try:
        _pool().submit(
            _post,
            url,
            body,
            dict(headers),
            cfg.webhook_delay_ms / 1000,
            cfg.webhook_timeout_seconds,
            cfg.webhook_attempts,
        )
    except RuntimeError:  # interpreter shutting down
        _pending.release()


def current_deliver(provider: str) -> Deliver:
    """The plugged deliver (``use_deliver``), else the ``deliver`` setting, else HTTP."""
    with _override_lock:
        if _deliver_override:
            return _deliver_override[-1]
    path = config_for(provider).deliver
    if path:
        fn: Deliver = import_string(path)
        return fn
    return http_deliver


@contextmanager
def use_deliver(fn: Deliver) -> Iterator[Deliver]:
    """Hand sandbox webhooks to ``fn(provider, body, headers)`` inside the block (tests, drills,
    embedded mode). ``fn`` is called synchronously, from the adapter's thread."""
    with _override_lock:
        _deliver_override.append(fn)
    try:
        yield fn
    finally:
        with _override_lock:
            _deliver_override.remove(fn)


def send_webhook(provider: str, event: Mapping[str, Any]) -> bool:
    """Sign ``event`` with the provider's first secret and hand it to the deliver function.
    ``False`` (and a warning, never an error for the caller) when no secret is configured,
    webhooks are off, or delivery raised."""
    cfg = config_for(provider)
    if not cfg.webhooks:
        return False
    secrets = signing.secrets_for(provider)
    if not secrets:
        log.warning("SANDBOX_WEBHOOK_UNSIGNED", provider=provider, reason="no secret configured")
        return False
    body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        signing.SIGNATURE_HEADER: signing.sign(body, secret=secrets[0]),
    }
    try:
        current_deliver(provider)(provider, body, headers)
    except Exception as exc:  # noqa: BLE001 - a webhook never fails the provider call
        log.warning("SANDBOX_WEBHOOK_FAILED", provider=provider, error=exc.__class__.__name__)
        return False
    return True


def stripe_event(
    event_type: str, key: str, obj: Mapping[str, Any], *, created: int | None = None
) -> dict[str, Any]:
    """Stripe's event envelope ``{id, type, created, data: {object}}``; the id is derived from
    the key and type, so a redelivery carries the same id."""
    digest = hashlib.sha256(f"{event_type}\x1f{key}".encode()).hexdigest()[:24]
    return {
        "id": f"evt_sbx_{digest}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": dict(obj)},
    }


# --- the adapters ------------------------------------------------------------------------------


def _unit(cfg: SandboxConfig, ctx: CallContext, kind: str) -> float:
    """A number in [0, 1): reproducible from the seed when one is set."""
    if cfg.seed is None:
        return random.random()  # noqa: S311 - failure injection, not security
    material = f"{cfg.seed}\x1f{kind}\x1f{ctx.operation}\x1f{ctx.idempotency_key}\x1f{ctx.attempt}"
    return int(hashlib.sha256(material.encode()).hexdigest()[:13], 16) / float(1 << 52)


class SandboxAdapter(KindAdapter):
    """Shared behaviour: latency, failure injection, the ledger, provider ids."""

    name = "sandbox"

    def _begin(self, ctx: CallContext) -> tuple[SandboxConfig, str | None]:
        """Wait the latency, count the call; return the failure to inject (or ``None``)."""
        cfg = config_for(self.kind)
        LEDGER.record_call(self.kind, ctx.idempotency_key)
        latency = cfg.latency_ms / 1000
        if latency > ctx.timeout_seconds > 0:
            time.sleep(ctx.timeout_seconds)
            raise ProviderTimeout(f"sandbox {self.kind}: no answer within {ctx.timeout_seconds:g}s")
        if latency > 0:
            time.sleep(latency)
        failure = None
        if (
            cfg.failure_mode != "none"
            and cfg.error_rate > 0
            and _unit(cfg, ctx, self.kind) < cfg.error_rate
        ):
            failure = cfg.failure_mode
        if failure is not None and failure != "timeout":
            self._fail(failure, cfg)
        return cfg, failure

    def _begin_read(self, ctx: CallContext) -> None:
        """``_begin`` for calls with no effect: an injected timeout fails at once."""
        cfg, failure = self._begin(ctx)
        if failure is not None:
            self._fail(failure, cfg)

    def _fail(self, mode: str, cfg: SandboxConfig) -> NoReturn:
        where = f"sandbox {self.kind}"
        if mode == "timeout":
            raise ProviderTimeout(f"{where}: timed out (injected)")
        if mode == "429":
            raise TransientProviderError(
                f"{where}: 429 rate limited (injected)",
                status_code=429,
                code="PROVIDER_RATE_LIMITED",
                retry_after=cfg.retry_after_seconds,
            )
        if mode == "4xx":
            raise PermanentProviderError(
                f"{where}: 400 request refused (injected)", status_code=400
            )
        raise TransientProviderError(f"{where}: 503 unavailable (injected)", status_code=503)

    def _effect(
        self,
        ctx: CallContext,
        prefix: str,
        failure: str | None,
        cfg: SandboxConfig,
        on_first: Callable[[str], None] | None = None,
    ) -> tuple[str, bool]:
        """Apply the effect once per key (``on_first(reference)`` sends its webhook);
        ``(reference, first_time)``. A ``timeout`` failure happens after the effect and its
        webhook (the answer is lost, the effect is not)."""
        reference = provider_id(prefix, self.kind, ctx.operation, ctx.idempotency_key)
        first = LEDGER.record_effect(self.kind, ctx.idempotency_key, reference)
        if first and on_first is not None:
            on_first(reference)
        if failure == "timeout":
            self._fail("timeout", cfg)
        return reference, first


class SandboxPayments(SandboxAdapter):
    kind = Kind.PAYMENTS.value

    def create_payment(self, request: PaymentRequest, ctx: CallContext) -> PaymentResult:
        cfg, failure = self._begin(ctx)

        def captured(ref: str) -> None:
            send_webhook(
                self.kind,
                stripe_event(
                    PAYMENT_CAPTURED,
                    ctx.idempotency_key,
                    {
                        "id": ref,
                        "object": "payment_intent",
                        "amount": request.amount_minor,
                        "currency": request.currency.lower(),
                        "status": "succeeded",
                        "metadata": {"order_id": request.order_id},
                    },
                ),
            )

        ref, _ = self._effect(ctx, "pi", failure, cfg, captured)
        return PaymentResult(ref, "succeeded", request.amount_minor, request.currency)

    def refund(self, request: RefundRequest, ctx: CallContext) -> PaymentResult:
        cfg, failure = self._begin(ctx)

        def succeeded(ref: str) -> None:
            send_webhook(
                self.kind,
                stripe_event(
                    REFUND_SUCCEEDED,
                    ctx.idempotency_key,
                    {
                        "id": ref,
                        "object": "refund",
                        "amount": request.amount_minor,
                        "currency": request.currency.lower(),
                        "payment_intent": request.payment_reference,
                        "status": "succeeded",
                        "metadata": {"order_id": request.order_id},
                    },
                ),
            )

        ref, _ = self._effect(ctx, "re", failure, cfg, succeeded)
        return PaymentResult(ref, "succeeded", request.amount_minor, request.currency)


class SandboxEmail(SandboxAdapter):
    kind = Kind.EMAIL.value

    def send(self, request: EmailRequest, ctx: CallContext) -> MessageResult:
        cfg, failure = self._begin(ctx)
        ref, _ = self._effect(ctx, "msg", failure, cfg)
        return MessageResult(ref)


class SandboxSms(SandboxAdapter):
    kind = Kind.SMS.value

    def send(self, request: SmsRequest, ctx: CallContext) -> MessageResult:
        cfg, failure = self._begin(ctx)
        ref, _ = self._effect(ctx, "sms", failure, cfg)
        return MessageResult(ref)


class SandboxPush(SandboxAdapter):
    kind = Kind.PUSH.value

    def send(self, request: PushRequest, ctx: CallContext) -> MessageResult:
        cfg, failure = self._begin(ctx)
        ref, _ = self._effect(ctx, "push", failure, cfg)
        return MessageResult(ref)


class SandboxCourier(SandboxAdapter):
    kind = Kind.COURIER.value

    def create_shipment(self, request: ShipmentRequest, ctx: CallContext) -> ShipmentResult:
        cfg, failure = self._begin(ctx)

        def created(ref: str) -> None:
            obj: dict[str, Any] = {
                "id": ref,
                "object": "shipment",
                "tracking_code": _tracking_code(ref),
                "status": cfg.courier_outcome,
                "metadata": {"order_id": request.order_id},
            }
            if cfg.courier_outcome == COURIER_ATTEMPT_FAILED:
                obj["reason"] = "recipient_absent"
            send_webhook(self.kind, stripe_event(cfg.courier_outcome, ctx.idempotency_key, obj))

        ref, _ = self._effect(ctx, "shp", failure, cfg, created)
        return ShipmentResult(ref, _tracking_code(ref))


def _tracking_code(reference: str) -> str:
    return "TRK" + reference.rsplit("_", 1)[-1][:12].upper()


class SandboxStorage(SandboxAdapter):
    """Objects kept in this process's memory (the ledger)."""

    kind = Kind.STORAGE.value

    def put(self, request: StoragePutRequest, ctx: CallContext) -> StoredObject:
        cfg, failure = self._begin(ctx)
        if LEDGER.record_effect(self.kind, ctx.idempotency_key, request.name):
            LEDGER.put_object(request.name, request.content, request.content_type)
        if failure == "timeout":
            self._fail("timeout", cfg)
        return StoredObject(
            provider_reference=request.name,
            size=len(request.content),
            sha256=hashlib.sha256(request.content).hexdigest(),
            url=self._url(request.name),
        )

    def get(self, request: StorageNameRequest, ctx: CallContext) -> StorageBlob:
        self._begin_read(ctx)
        found = LEDGER.get_object(request.name)
        if found is None:
            raise PermanentProviderError(
                "sandbox storage: no such object", status_code=404, code="STORAGE_NOT_FOUND"
            )
        return StorageBlob(request.name, found[0])

    def url(self, request: StorageNameRequest, ctx: CallContext) -> StorageUrl:
        self._begin_read(ctx)
        return StorageUrl(request.name, self._url(request.name))

    def _url(self, name: str) -> str:
        return "sandbox://storage/" + base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


class SandboxGeocoding(SandboxAdapter):
    """A stable point per address (a hash, not a map): good enough for demos and tests."""

    kind = Kind.GEOCODING.value

    def geocode(self, request: GeocodeRequest, ctx: CallContext) -> GeocodeResult:
        self._begin_read(ctx)
        digest = hashlib.sha256(
            f"{request.country_code or ctx.country_code}\x1f{request.address}".encode()
        ).digest()
        lat = int.from_bytes(digest[:4], "big") / 2**32 * 180 - 90
        lng = int.from_bytes(digest[4:8], "big") / 2**32 * 360 - 180
        ref = provider_id("geo", self.kind, ctx.operation, ctx.idempotency_key)
        return GeocodeResult(ref, round(lat, 6), round(lng, 6))


#: VAT-like rates by country, basis points (sandbox only; not tax advice).
SANDBOX_TAX_RATES_BPS: dict[str, int] = {"AR": 2100, "MX": 1600, "CL": 1900, "CO": 1900}


class SandboxTax(SandboxAdapter):
    kind = Kind.TAX.value

    def quote(self, request: TaxQuoteRequest, ctx: CallContext) -> TaxQuote:
        self._begin_read(ctx)
        country = request.country_code or ctx.country_code
        rate = SANDBOX_TAX_RATES_BPS.get(country, 0)
        tax = (request.amount_minor * rate + 5_000) // 10_000  # half up, integer minor units
        ref = provider_id("tax", self.kind, ctx.operation, ctx.idempotency_key)
        return TaxQuote(ref, tax, rate, request.currency)


#: The default adapter class per kind (settings.INTEGRATIONS_PROVIDERS).
SANDBOX_ADAPTERS: dict[str, str] = {
    Kind.PAYMENTS.value: "integrations.providers.sandbox.SandboxPayments",
    Kind.EMAIL.value: "integrations.providers.sandbox.SandboxEmail",
    Kind.SMS.value: "integrations.providers.sandbox.SandboxSms",
    Kind.PUSH.value: "integrations.providers.sandbox.SandboxPush",
    Kind.COURIER.value: "integrations.providers.sandbox.SandboxCourier",
    Kind.STORAGE.value: "integrations.providers.sandbox.SandboxStorage",
    Kind.GEOCODING.value: "integrations.providers.sandbox.SandboxGeocoding",
    Kind.TAX.value: "integrations.providers.sandbox.SandboxTax",
}
