"""REST API of Web Push (mounted at ``/api/push/``): parse, call one service or selector,
render. Every endpoint answers 503 ``PUSH_DISABLED`` while push is switched off."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.accounts.contracts import api_principal
from aventide.core.serializers import StrictCharField, StrictIntegerField, StrictSerializer
from realtime.push import selectors, services
from realtime.push.models import PushSubscription

DISABLED = OpenApiResponse(description="503 PUSH_DISABLED: push notifications are switched off.")


class KeysIn(StrictSerializer):
    # The camelCase parser reads the client's "p256dh" as "p_256dh" (and renders it back).
    p_256dh = StrictCharField(max_length=256, help_text="base64url P-256 point (65 bytes)")
    auth = StrictCharField(max_length=64, help_text="base64url auth secret (16 bytes)")


class SubscriptionIn(StrictSerializer):
    """``PushSubscription.toJSON()`` as the browser gives it."""

    endpoint = StrictCharField(max_length=4096)
    keys = KeysIn()
    expiration_time = StrictIntegerField(required=False, allow_null=True, min_value=0)


class SubscriptionOut(serializers.ModelSerializer[PushSubscription]):
    class Meta:
        model = PushSubscription
        fields = [
            "id",
            "endpoint",
            "country_code",
            "created_at",
            "updated_at",
            "last_success_at",
        ]
        read_only_fields = fields


class VapidPublicKeyView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="push_vapid_public_key",
        responses={
            200: inline_serializer("VapidPublicKey", {"public_key": serializers.CharField()}),
            503: DISABLED,
        },
        summary="The VAPID public key: the browser's applicationServerKey (base64url).",
    )
    def get(self, request: Request) -> Response:
        return Response({"public_key": services.vapid_public_key()})


class SubscriptionsView(APIView):
    permission_classes = [IsAuthenticated]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        services.require_push_enabled()

    @extend_schema(
        operation_id="push_subscriptions_list",
        responses={200: SubscriptionOut(many=True), 503: DISABLED},
        summary="The caller's push subscriptions.",
    )
    def get(self, request: Request) -> Response:
        rows = selectors.subscriptions_of(api_principal(request))[:100]
        return Response(SubscriptionOut(rows, many=True).data)

    @extend_schema(
        operation_id="push_subscriptions_create",
        request=SubscriptionIn,
        responses={201: SubscriptionOut, 503: DISABLED},
        summary="Register this browser's push subscription (the same endpoint updates it).",
    )
    def post(self, request: Request) -> Response:
        data = SubscriptionIn(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.push_subscribe(
            actor=api_principal(request),
            endpoint=data.validated_data["endpoint"],
            p256dh=data.validated_data["keys"]["p_256dh"],
            auth=data.validated_data["keys"]["auth"],
        )
        return Response(SubscriptionOut(subscription).data, status=201)


class SubscriptionDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        services.require_push_enabled()

    @extend_schema(
        operation_id="push_subscriptions_delete",
        responses={204: None, 404: OpenApiResponse(description="NOT_FOUND"), 503: DISABLED},
        summary="Drop one of the caller's push subscriptions (others' ids are 404).",
    )
    def delete(self, request: Request, subscription_id: int) -> Response:
        services.push_unsubscribe(actor=api_principal(request), subscription_id=subscription_id)
        return Response(status=204)
