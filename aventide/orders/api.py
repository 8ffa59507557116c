"""REST API of listings and orders: parse, call one service or selector, render."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.accounts.contracts import is_anonymous_identity
from aventide.core.errors import ValidationFailed
from aventide.core.pagination import CappedLimitOffsetPagination
from aventide.orders import selectors, services
from aventide.orders.errors import OrderActionForbidden
from aventide.orders.models import Listing, Order, Role

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


class ListingIn(serializers.Serializer[Any]):
    title = serializers.CharField(min_length=3, max_length=140)
    price_minor = serializers.IntegerField(min_value=1, max_value=10**12)


class RecipientIn(serializers.Serializer[Any]):
    name = serializers.CharField(min_length=1, max_length=120)
    email = serializers.EmailField(required=False, allow_blank=True)


class OrderIn(serializers.Serializer[Any]):
    listing_id = serializers.IntegerField(min_value=1)
    recipient = RecipientIn()


class CancelIn(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


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


def render_order(actor: Any, order: Order) -> dict[str, Any]:
    role = selectors.role_of(actor, order) or ""
    # Never say whether the recipient has an account: it would tell the buyer whether any
    # email is registered.
    recipient: dict[str, Any] = {"name": order.recipient_name}
    if role == Role.BUYER and order.recipient_email:
        recipient["email"] = order.recipient_email  # PII: only to the buyer who typed it
    data = {
        "id": order.pk,
        "status": order.status,
        "country_code": order.country_code,
        "listing_id": order.listing_id,
        "listing_title": order.listing.title,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "role": role,
        "allowed_actions": [
            a.replace("_", "-") for a in selectors.allowed_transitions(actor, order)
        ],
        "recipient": recipient,
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "accepted_at": order.accepted_at,
        "dispatched_at": order.dispatched_at,
        "delivered_at": order.delivered_at,
        "closed_at": order.closed_at,
    }
    return dict(OrderOut(data).data)


def _registered_user(request: Request) -> Any:
    user = request.user
    if is_anonymous_identity(user):
        raise OrderActionForbidden("Registered accounts only.")
    return user


# --- views ---------------------------------------------------------------------------------


class ListingsView(APIView):
    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.request.method == "GET" else [IsAuthenticated()]

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
            actor=_registered_user(request),
            title=data.validated_data["title"],
            price_minor=data.validated_data["price_minor"],
        )
        return Response(ListingOut(listing).data, status=201)


class OrdersView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="orders_list",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(OrderOut, "OrderPage")},
        summary="Orders the caller is a party of (paginated).",
    )
    def get(self, request: Request) -> Response:
        paginator = CappedLimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.orders_for(request.user), request, view=self)
        return paginator.get_paginated_response(
            [render_order(request.user, order) for order in page or []]
        )

    @extend_schema(
        operation_id="orders_create",
        request=OrderIn,
        responses={201: OrderOut},
        summary="Order a listing for a recipient; the amount comes from the listing.",
    )
    def post(self, request: Request) -> Response:
        data = OrderIn(data=request.data)
        data.is_valid(raise_exception=True)
        recipient = data.validated_data["recipient"]
        created = services.order_create(
            actor=_registered_user(request),
            listing_id=data.validated_data["listing_id"],
            recipient_name=recipient["name"],
            recipient_email=recipient.get("email", ""),
        )
        return Response(render_order(request.user, created.order), status=201)


class OrderDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="orders_retrieve", responses={200: OrderOut})
    def get(self, request: Request, order_id: int) -> Response:
        return Response(render_order(request.user, selectors.order_for(request.user, order_id)))


class _OrderActionView(APIView):
    permission_classes = [IsAuthenticated]

    def run(self, request: Request, order_id: int) -> Order:
        raise NotImplementedError

    def post(self, request: Request, order_id: int) -> Response:
        order = self.run(request, order_id)
        order.refresh_from_db()
        return Response(render_order(request.user, order))


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
        return services.order_accept(actor=request.user, order_id=order_id)


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
        return services.order_dispatch(actor=request.user, order_id=order_id)


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
        return services.order_confirm_delivery(actor=request.user, order_id=order_id)


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
            actor=request.user, order_id=order_id, reason=data.validated_data.get("reason", "")
        )
