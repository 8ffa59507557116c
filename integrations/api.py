"""REST API of the integrations hub: the inbound webhook endpoint (parse, call, render).

``POST /api/integrations/webhooks/<provider>`` is public and authenticated by its signature
alone: no authentication classes (a stray ``Authorization`` header cannot turn a delivery
into a 401), CSRF exempt (DRF views are; no session authentication runs), and no request
throttle -- a 429 would drop or delay a provider's retries, and the work an unsigned request
can cause is bounded by the 256 KiB cap (checked before reading) and one HMAC, with nothing
stored. Floods are the edge's job (docs/operations/integrations.md).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.core.body_limit import max_body_bytes_for
from integrations import webhook_services
from integrations.signing import SIGNATURE_HEADER, STRIPE_SIGNATURE_HEADER


class WebhookAckOut(serializers.Serializer[Any]):
    received = serializers.BooleanField(help_text="Always true: the event is stored.")
    duplicate = serializers.BooleanField(
        help_text="True when this event id was already received (it is not processed again)."
    )


def _read_body(request: Request, provider: str) -> bytes:
    """The raw body (the signature covers the exact bytes), at most the path's limit: a
    declared ``Content-Length`` over it is refused before reading, and the read is bounded
    (the ASGI body-limit middleware already refused larger bodies in production)."""
    django_request = request._request
    limit = max_body_bytes_for(django_request.path)
    declared = str(django_request.META.get("CONTENT_LENGTH") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise webhook_services.webhook_body_too_large(provider, limit)
    if getattr(django_request, "_read_started", False):
        body = django_request.body  # already read by someone (bounded by the same caps)
    else:
        body = django_request.read(limit + 1)
    if len(body) > limit:
        raise webhook_services.webhook_body_too_large(provider, limit)
    return body


class WebhookReceiveView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    parser_classes: list[Any] = []  # the raw bytes are verified, then parsed by the service

    @extend_schema(
        operation_id="integrations_webhook_receive",
        summary="Receive a provider's signed webhook event (stored once, processed async).",
        description=(
            "Providers only. The body is an event `{id, type, created, data}` (Stripe's shape), "
            "at most 256 KiB, signed with `X-Aventide-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256 "
            "of `<t>.<body>` with `WEBHOOK_SECRET_<PROVIDER>`, 5 minutes tolerance); the "
            "payments provider may use `Stripe-Signature` instead. An event id already "
            "received answers 200 with `duplicate: true` and is not processed again."
        ),
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter(
                "provider",
                str,
                OpenApiParameter.PATH,
                description="A configured webhook provider (payments, courier, ...).",
            ),
            OpenApiParameter(
                SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>",
            ),
            OpenApiParameter(
                STRIPE_SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Stripe's signature header (payments provider only).",
            ),
        ],
        responses={
            200: WebhookAckOut,
            400: OpenApiResponse(description="WEBHOOK_SIGNATURE_INVALID or VALIDATION_ERROR"),
            404: OpenApiResponse(description="NOT_FOUND: unknown provider"),
            413: OpenApiResponse(description="PAYLOAD_TOO_LARGE (over 256 KiB)"),
        },
    )
    def post(self, request: Request, provider: str) -> Response:
        webhook_services.require_provider(provider)
        receipt = webhook_services.webhook_receive(
            provider=provider, body=_read_body(request, provider), headers=request.headers
        )
        return Response({"received": True, "duplicate": receipt.duplicate}, status=200)
