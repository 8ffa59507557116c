"""REST API of the chat's receipts: ``ack`` and ``reconcile`` (docs/api/chat-receipts.md).

Parse, call one service, render. The realtime ``ack`` frames (``message.delivered`` /
``message.read``) reach the same service through the handlers ``MessagingConfig`` registers.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.accounts.contracts import IsUserOrAnonymousIdentity, api_principal
from aventide.core.serializers import StrictIntegerField, StrictSerializer
from messaging import services

_WATERMARKS: dict[str, Any] = {
    "role": serializers.CharField(),
    "deliveredUpToSeq": serializers.IntegerField(),
    "readUpToSeq": serializers.IntegerField(),
}


class AckIn(StrictSerializer):
    """The body's schema (unknown fields refused). The service checks the values itself so
    every refusal is ``INVALID_ACK`` and counted in ``METRIC_CHAT_ACK_FAILURE``."""

    kind = serializers.ChoiceField(choices=["delivered", "read"])
    up_to_seq = StrictIntegerField(
        min_value=0, help_text="At most the conversation's lastSeq (else INVALID_ACK)."
    )


class ReconcileIn(StrictSerializer):
    last_seq_seen = StrictIntegerField(
        min_value=0, required=False, default=0, help_text="The highest seq the client holds."
    )


AckOut = inline_serializer(
    "AckOut",
    {
        "conversationId": serializers.IntegerField(),
        **_WATERMARKS,
        "lastSeq": serializers.IntegerField(),
        "moved": serializers.BooleanField(help_text="False: an older or repeated ack (no-op)."),
    },
)
ReconcileOut = inline_serializer(
    "ReconcileOut",
    {
        "conversationId": serializers.IntegerField(),
        "state": serializers.ChoiceField(choices=["dormant", "active", "frozen", "closed"]),
        "lastSeq": serializers.IntegerField(),
        "lastSeqSeen": serializers.IntegerField(),
        "behind": serializers.BooleanField(help_text="lastSeqSeen < lastSeq"),
        "missingFrom": serializers.IntegerField(
            allow_null=True, help_text="The first seq the client lacks (null when not behind)."
        ),
        "resync": serializers.BooleanField(
            help_text="lastSeqSeen > lastSeq: drop what the client holds above lastSeq."
        ),
        "unread": serializers.IntegerField(),
        "me": inline_serializer("ReconcileMe", _WATERMARKS),
        "others": inline_serializer("ReconcileOther", _WATERMARKS, many=True),
    },
)


class AckView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        operation_id="conversations_ack",
        request=AckIn,
        responses={
            200: AckOut,
            400: OpenApiResponse(
                description="INVALID_ACK: upToSeq beyond lastSeq, negative or not an integer; "
                "kind not delivered/read. VALIDATION_ERROR: an unknown field"
            ),
            403: OpenApiResponse(description="SCOPE_VIOLATION (staff out of scope)"),
            404: OpenApiResponse(description="NOT_FOUND_OR_NO_ACCESS"),
        },
        summary="Move the caller's delivered/read watermark (monotonic; read raises delivered).",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        receipt = services.message_ack_request(
            actor=api_principal(request), conversation_id=conversation_id, data=request.data
        )
        return Response(receipt.as_dict())


class ReconcileView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        operation_id="conversations_reconcile",
        request=ReconcileIn,
        responses={
            200: ReconcileOut,
            400: OpenApiResponse(description="VALIDATION_ERROR: lastSeqSeen"),
            404: OpenApiResponse(description="NOT_FOUND_OR_NO_ACCESS"),
        },
        summary="The authoritative state: lastSeq, every member's watermarks, behind or not.",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        state = services.conversation_reconcile_request(
            actor=api_principal(request), conversation_id=conversation_id, data=request.data
        )
        return Response(state.as_dict())
