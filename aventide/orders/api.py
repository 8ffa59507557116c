"""REST API of listings and orders: parse, call one service or selector, render."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.accounts.contracts import IsRegisteredUser, IsRegisteredUserToWrite, api_principal
from aventide.core.errors import ValidationFailed
from aventide.core.pagination import CappedLimitOffsetPagination
from aventide.core.principal import Principal
from aventide.core.serializers import (
    MAX_ID,
    CleanTextField,
    StrictEmailField,
    StrictIntegerField,
    StrictSerializer,
)
from aventide.orders import selectors, services
from aventide.orders.models import Listing, Order

_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


# --- serializers -----------------------------------------------------------------------------


class ListingOut(serializers.ModelSerializer[Listing]):
    seller_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Listing
        fields = [
            "id",
            "title",
            "price_minor",
            "currency",
            "country_code",
            "seller_id",
            "created_at",
        ]
        read_only_fields = fields


# Input serializers are strict (aventide.core.serializers): unknown keys, non-JSON types
# (``"100"`` for an integer) and blank-after-cleaning text answer 400 VALIDATION_ERROR.


class ListingIn(StrictSerializer):
    title = CleanTextField(min_length=3, max_length=140)
    price_minor = StrictIntegerField(min_value=1, max_value=10**12)


class PhoneField(CleanTextField):
    """A phone number as typed (digits, spaces, ``+ - ( ) .``); the service parses it for the
    listing's country (national numbers are read in that country's plan)."""

    default_error_messages = {"phone_chars": "Use digits, spaces and + - ( ) only."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=32, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = str(super().to_internal_value(data))
        if value and not _PHONE_CHARS_RE.match(value):
            self.fail("phone_chars")
        return value


_PHONE_CHARS_RE = re.compile(r"^\+?[0-9 ()\-.]{4,31}$")


class RecipientIn(StrictSerializer):
    name = CleanTextField(min_length=1, max_length=120)
    email = StrictEmailField(
        required=False, allow_blank=True, help_text="Where the recipient's link is sent."
    )
    phone = PhoneField(
        required=False,
        allow_blank=True,
        help_text="E.164 (+5491123456789) or a national number of the listing's country; "
        "the link goes by SMS when there is no email.",
    )
    address = CleanTextField(
        required=False,
        allow_blank=True,
        max_length=300,
        multiline=True,
        help_text="Delivery address, given to the courier.",
    )


class OrderIn(StrictSerializer):
    listing_id = StrictIntegerField(min_value=1, max_value=MAX_ID)
    recipient = RecipientIn()


class CancelIn(StrictSerializer):
    reason = CleanTextField(required=False, allow_blank=True, max_length=200, multiline=True)


class PaymentOut(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["none", "processing", "failed", "captured"])
    failure_code = serializers.CharField(
        required=False,
        help_text="Buyer and staff only, when the last payment failed: PAYMENT_DECLINED or "
        "PAYMENT_PROVIDER_UNAVAILABLE.",
    )
    failure_message = serializers.CharField(required=False)


class RecipientOut(serializers.Serializer[Any]):
    name = serializers.CharField()
    email = serializers.EmailField(required=False, help_text="Only to the buyer who typed it.")


class OrderOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    country_code = serializers.CharField()
    listing_id = serializers.IntegerField()
    listing_title = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    role = serializers.CharField(help_text="The caller's role on this order.")
    allowed_actions = serializers.ListField(child=serializers.CharField())
    recipient = RecipientOut()
    payment = PaymentOut()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    accepted_at = serializers.DateTimeField(allow_null=True)
    dispatched_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)


def paginated(item: type[serializers.Serializer[Any]], name: str) -> Any:
    """The schema of a capped limit/offset page of ``item``."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size (default 50, at most 100)."),
    OpenApiParameter("offset", int, description="Rows to skip."),
]


def render_order(actor: Principal, order: Order) -> dict[str, Any]:
    """The order as ``actor`` may see it (the privacy rules live in ``selectors.order_view``).

    ``order_view`` already has the shape of ``OrderOut`` (the documented schema, checked by
    tests/orders/test_schema.py): rendered as is, without building serializer fields per
    order -- the renderer writes datetimes as ISO 8601 with ``Z`` like the serializer did."""
    return selectors.order_view(actor, order)


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def _idempotency_key(request: Request) -> str | None:
    """The client's ``Idempotency-Key`` (1..255 visible ASCII characters), or None."""
    raw = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if raw is None:
        return None
    if not _IDEMPOTENCY_KEY_RE.match(raw):
        raise ValidationFailed(
            details={IDEMPOTENCY_KEY_HEADER: ["1 to 255 visible ASCII characters."]}
        )
    return raw


# --- views ---------------------------------------------------------------------------------


class ListingsView(APIView):
    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.request.method == "GET" else [IsRegisteredUser()]

    @extend_schema(
        operation_id="listings_list",
        parameters=[
            OpenApiParameter("country", str, description="ISO country code, e.g. AR"),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(ListingOut, "ListingPage")},
        summary="Public catalogue of active listings (paginated).",
    )
    def get(self, request: Request) -> Response:
        country = request.query_params.get("country")
        if country is not None and not _COUNTRY_RE.match(country):
            raise ValidationFailed(details={"country": ["Use an ISO 3166-1 alpha-2 code."]})
        paginator = CappedLimitOffsetPagination()
        page = paginator.paginate_queryset(
            selectors.listings_public(country_code=country), request, view=self
        )
        return paginator.get_paginated_response(ListingOut(page, many=True).data)

    @extend_schema(
        operation_id="listings_create",
        request=ListingIn,
        responses={201: ListingOut},
        summary="A seller publishes a listing (country and currency are the seller's).",
    )
    def post(self, request: Request) -> Response:
        data = ListingIn(data=request.data)
        data.is_valid(raise_exception=True)
        listing = services.listing_create(
            actor=api_principal(request),
            title=data.validated_data["title"],
            price_minor=data.validated_data["price_minor"],
        )
        return Response(ListingOut(listing).data, status=201)


class OrdersView(APIView):
    permission_classes = [IsRegisteredUserToWrite]

    @extend_schema(
        operation_id="orders_list",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(OrderOut, "OrderPage")},
        summary="Orders the caller is a party of (paginated).",
    )
    def get(self, request: Request) -> Response:
        paginator = CappedLimitOffsetPagination()
        actor = api_principal(request)
        page = paginator.paginate_queryset(selectors.orders_for(actor), request, view=self)
        return paginator.get_paginated_response(
            [render_order(actor, order) for order in page or []]
        )

    @extend_schema(
        operation_id="orders_create",
        request=OrderIn,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_KEY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Optional, recommended: a unique key per order the client means to "
                "place (e.g. a UUID). Retrying with the same key and body returns the first "
                "order (200) instead of buying twice; the same key with another body is 422 "
                "IDEMPOTENCY_KEY_REUSED.",
            )
        ],
        responses={
            201: OrderOut,
            200: OpenApiResponse(
                OrderOut, description="An Idempotency-Key repeat: the first order."
            ),
            422: OpenApiResponse(description="IDEMPOTENCY_KEY_REUSED"),
        },
        summary="Order a listing for a recipient; the amount comes from the listing.",
    )
    def post(self, request: Request) -> Response:
        data = OrderIn(data=request.data)
        data.is_valid(raise_exception=True)
        recipient = data.validated_data["recipient"]
        actor = api_principal(request)
        created = services.order_create(
            actor=actor,
            listing_id=data.validated_data["listing_id"],
            recipient_name=recipient["name"],
            recipient_email=recipient.get("email", ""),
            recipient_phone=recipient.get("phone", ""),
            recipient_address=recipient.get("address", ""),
            idempotency_key=_idempotency_key(request),
        )
        return Response(render_order(actor, created.order), status=201 if created.created else 200)


class OrderDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="orders_retrieve", responses={200: OrderOut})
    def get(self, request: Request, order_id: int) -> Response:
        actor = api_principal(request)
        return Response(render_order(actor, selectors.order_for(actor, order_id)))


class _OrderActionView(APIView):
    permission_classes = [IsAuthenticated]

    def run(self, request: Request, order_id: int) -> Order:
        raise NotImplementedError

    def post(self, request: Request, order_id: int) -> Response:
        # Rendered from the object the service returns (it holds the committed state): no
        # re-read of the row.
        order = self.run(request, order_id)
        return Response(render_order(api_principal(request), order))


class OrderPayView(_OrderActionView):
    permission_classes = [IsRegisteredUser]

    @extend_schema(
        operation_id="orders_pay",
        request=None,
        responses={
            202: OpenApiResponse(
                OrderOut,
                description="The payment is on its way (``payment.status`` processing); the "
                "order turns paid when the provider confirms the capture. Repeating the call "
                "while it is processing returns the same order and charges nothing more.",
            ),
            409: OpenApiResponse(
                description="INVALID_TRANSITION: the order is not awaiting payment."
            ),
        },
        summary="Buyer pays the order (the amount is the order's, never the client's).",
    )
    def post(self, request: Request, order_id: int) -> Response:
        actor = api_principal(request)
        order = services.order_pay(actor=actor, order_id=order_id)
        return Response(render_order(actor, order), status=202)


class OrderAcceptView(_OrderActionView):
    @extend_schema(
        operation_id="orders_accept",
        request=None,
        responses={200: OrderOut},
        summary="Seller accepts a paid order.",
    )
    def post(self, request: Request, order_id: int) -> Response:
        return super().post(request, order_id)

    def run(self, request: Request, order_id: int) -> Order:
        return services.order_accept(actor=api_principal(request), order_id=order_id)


class OrderDispatchView(_OrderActionView):
    @extend_schema(
        operation_id="orders_dispatch",
        request=None,
        responses={200: OrderOut},
        summary="Seller hands the gift to the courier.",
    )
    def post(self, request: Request, order_id: int) -> Response:
        return super().post(request, order_id)

    def run(self, request: Request, order_id: int) -> Order:
        return services.order_dispatch(actor=api_principal(request), order_id=order_id)


class OrderConfirmDeliveryView(_OrderActionView):
    @extend_schema(
        operation_id="orders_confirm_delivery",
        request=None,
        responses={200: OrderOut},
        summary="Recipient (anonymous identity allowed) confirms delivery.",
    )
    def post(self, request: Request, order_id: int) -> Response:
        return super().post(request, order_id)

    def run(self, request: Request, order_id: int) -> Order:
        return services.order_confirm_delivery(actor=api_principal(request), order_id=order_id)


class OrderCancelView(_OrderActionView):
    #: L2/L3 staff may cancel through the API too (scoped by ScopeGuard in the service), so the
    #: ScopeGuard table test in tests/security covers this endpoint.
    staff_facing = True

    @extend_schema(
        operation_id="orders_cancel",
        request=CancelIn,
        responses={200: OrderOut},
        summary="Buyer or seller cancels before dispatch (paid money is refunded).",
    )
    def post(self, request: Request, order_id: int) -> Response:
        return super().post(request, order_id)

    def run(self, request: Request, order_id: int) -> Order:
        data = CancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        return services.order_cancel(
            actor=api_principal(request),
            order_id=order_id,
            reason=data.validated_data.get("reason", ""),
        )
