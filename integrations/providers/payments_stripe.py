"""Payments on the official ``stripe`` library (PaymentIntents and Refunds).

Settings: ``STRIPE_API_KEY``, ``STRIPE_API_BASE`` (default ``https://api.stripe.com``; a
stub or stripe-mock in tests and drills). Our idempotency key goes to Stripe as its
``Idempotency-Key`` (the library's ``idempotency_key`` option), so a retry of a job gets
Stripe's stored answer instead of a second charge. The library's own network retries are
off: the outbox worker owns retries (backoff, circuit breaker, DLQ).

Classification: ``APIConnectionError`` (connection refused/reset; a timeout becomes
``ProviderTimeout``), ``RateLimitError`` (429, ``retry_after`` from ``Retry-After``) and
``APIError`` 5xx -> transient; ``CardError``, ``InvalidRequestError``, ``IdempotencyError``,
``AuthenticationError``, ``PermissionError`` (4xx) -> permanent. Details carry the Stripe
error class, status and code, never its message (it may echo card or customer data).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import httpx
import stripe
from django.conf import settings

from integrations.providers.base import (
    Kind,
    PermanentProviderError,
    ProviderTimeout,
    TransientProviderError,
)
from integrations.providers.kinds import (
    CallContext,
    KindAdapter,
    PaymentRequest,
    PaymentResult,
    RefundRequest,
)

# The library logs each request at INFO, and each API error with Stripe's message (which can
# echo card or customer data) at INFO too: keep only its warnings.
logging.getLogger("stripe").setLevel(logging.WARNING)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return None
    return None


def classify_stripe_error(
    exc: stripe.StripeError,
) -> TransientProviderError | PermanentProviderError:
    """A Stripe library error as the worker's transient/permanent error."""
    status = exc.http_status
    code = str(exc.code or "").upper()[:40]
    detail = f"stripe {exc.__class__.__name__}" + (f" {status}" if status else "")
    if code:
        detail += f" ({code.lower()})"
    if isinstance(exc, stripe.APIConnectionError):
        if isinstance(exc.__cause__, httpx.TimeoutException | TimeoutError):
            return ProviderTimeout("stripe did not answer in time")
        return TransientProviderError(detail, code="PROVIDER_UNREACHABLE")
    if isinstance(exc, stripe.RateLimitError) or status == 429:
        return TransientProviderError(
            detail,
            status_code=429,
            code="PROVIDER_RATE_LIMITED",
            retry_after=_retry_after(exc.headers),
        )
    if status is not None and status >= 500:
        return TransientProviderError(detail, status_code=status)
    if isinstance(exc, stripe.APIError) and status is None:
        return TransientProviderError(detail)  # an answer the library could not read
    if isinstance(exc, stripe.CardError):
        return PermanentProviderError(detail, status_code=status, code="PAYMENT_DECLINED")
    if isinstance(exc, stripe.IdempotencyError):
        return PermanentProviderError(detail, status_code=status, code="IDEMPOTENCY_KEY_REUSED")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return PermanentProviderError(detail, status_code=status, code="PROVIDER_AUTH_FAILED")
    return PermanentProviderError(detail, status_code=status)


class StripePayments(KindAdapter):
    name = "stripe"
    kind = Kind.PAYMENTS.value

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, float], stripe.StripeClient] = {}

    def _client(self, timeout: float) -> stripe.StripeClient:
        api_key = settings.STRIPE_API_KEY
        if not api_key:
            raise PermanentProviderError(
                "STRIPE_API_KEY is not set", code="PROVIDER_NOT_CONFIGURED"
            )
        base = settings.STRIPE_API_BASE.rstrip("/")
        cache_key = (api_key, base, timeout)
        with self._lock:
            client = self._clients.get(cache_key)
            if client is None:
                client = stripe.StripeClient(
                    api_key,
                    base_addresses={"api": base},
                    max_network_retries=0,
                    http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
                )
                self._clients[cache_key] = client
        return client

    def _call(self, ctx: CallContext, fn: str, params: dict[str, Any]) -> Any:
        client = self._client(ctx.timeout_seconds)
        service = client.v1.payment_intents if fn == "payment_intents" else client.v1.refunds
        try:
            return service.create(params, {"idempotency_key": ctx.idempotency_key})  # type: ignore[arg-type]  # params typed as TypedDicts by the stubs
        except stripe.StripeError as exc:
            raise classify_stripe_error(exc) from None

    def create_payment(self, request: PaymentRequest, ctx: CallContext) -> PaymentResult:
        params: dict[str, Any] = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "metadata": {"order_id": request.order_id},
        }
        if request.payment_method:
            params["payment_method"] = request.payment_method
            params["confirm"] = True
        if request.description:
            params["description"] = request.description[:200]
        intent = self._call(ctx, "payment_intents", params)
        return PaymentResult(
            provider_reference=str(intent.id),
            status=str(intent.status),
            amount_minor=int(intent.amount),
            currency=str(intent.currency).upper(),
        )

    def refund(self, request: RefundRequest, ctx: CallContext) -> PaymentResult:
        params: dict[str, Any] = {
            "payment_intent": request.payment_reference,
            "amount": request.amount_minor,
            "metadata": {"order_id": request.order_id},
        }
        if request.reason in ("duplicate", "fraudulent", "requested_by_customer"):
            params["reason"] = request.reason
        refund = self._call(ctx, "refunds", params)
        return PaymentResult(
            provider_reference=str(refund.id),
            status=str(refund.status),
            amount_minor=int(refund.amount),
            currency=str(refund.currency).upper(),
        )
