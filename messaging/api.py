"""REST API of the order chat: parse, call one service or selector, render.

Parties authenticate with their JWT, anonymous recipients with ``X-Anonymous-Id`` +
``X-Anonymous-Signature``; staff with their JWT (scoped by country). A conversation the
caller is not a member of answers 404 ``NOT_FOUND_OR_NO_ACCESS`` like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.accounts.contracts import IsUserOrAnonymousIdentity, api_principal
from aventide.core.errors import ValidationFailed
from aventide.core.serializers import StrictCharField, StrictSerializer
from messaging import selectors, services
from messaging.models import BODY_MAX_CHARS, CLIENT_MESSAGE_ID_MAX_LENGTH, ActivationReason

# --- serializers -------------------------------------------------------------------------------


class SendIn(StrictSerializer):
    """The send's body, for the OpenAPI schema; the view checks it with the service's own
    rules (``send_input``), as the realtime ``message.send`` frame does: one rule for both."""

    client_message_id = StrictCharField(
        max_length=CLIENT_MESSAGE_ID_MAX_LENGTH, trim_whitespace=False
    )
    # The service checks emptiness and length (2,000 characters) itself: one rule everywhere.
    body = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=BODY_MAX_CHARS)


class ActivateIn(StrictSerializer):
    reason_code = StrictCharField(max_length=40)


_Moderation = inline_serializer(
    "ModerationOut",
    {
        "verdict": serializers.ChoiceField(choices=["allow", "redact", "block"]),
        "reasons": serializers.ListField(child=serializers.CharField()),
    },
)

_MESSAGE_FIELDS: dict[str, Any] = {
    "id": serializers.IntegerField(),
    "conversationId": serializers.IntegerField(),
    "seq": serializers.IntegerField(),
    "kind": serializers.ChoiceField(choices=["user", "system", "staff"]),
    "senderRole": serializers.CharField(),
    "clientMessageId": serializers.CharField(),
    "body": serializers.CharField(),
    "createdAt": serializers.DateTimeField(),
    "moderation": _Moderation,
    "originalBody": serializers.CharField(required=False, help_text="Staff only."),
}
MessageOut = inline_serializer("MessageOut", _MESSAGE_FIELDS)

_CONVERSATION_FIELDS: dict[str, Any] = {
    "id": serializers.IntegerField(),
    "orderId": serializers.IntegerField(),
    "state": serializers.ChoiceField(choices=["dormant", "active", "frozen", "closed"]),
    "role": serializers.CharField(),
    "lastSeq": serializers.IntegerField(),
    "lastMessageAt": serializers.DateTimeField(allow_null=True),
    "activationReason": serializers.CharField(),
    "freezeReason": serializers.CharField(),
    "deliveredUpToSeq": serializers.IntegerField(),
    "readUpToSeq": serializers.IntegerField(),
    "unread": serializers.IntegerField(),
}
ConversationOut = inline_serializer("ConversationOut", _CONVERSATION_FIELDS)


def _int_param(request: Request, name: str, *, default: int | None, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 19:
        raise ValidationFailed(details={name: ["Must be a non-negative integer."]})
    value = int(raw)
    if value < minimum:
        raise ValidationFailed(details={name: [f"Must be at least {minimum}."]})
    return value


def _conversation_body(request: Request, conversation: Any) -> dict[str, Any]:
    actor = api_principal(request)
    return selectors.render_conversation(
        actor, conversation, selectors.participant_of(actor, conversation)
    )


# --- views -------------------------------------------------------------------------------------


class ConversationsView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        operation_id="conversations_list",
        responses={
            200: inline_serializer(
                "ConversationList",
                {"results": inline_serializer("ConversationItem", _CONVERSATION_FIELDS, many=True)},
            )
        },
        summary="The caller's conversations, newest activity first, with unread counts.",
    )
    def get(self, request: Request) -> Response:
        actor = api_principal(request)
        rows = selectors.conversation_list_for(actor)
        results = []
        for row in rows:
            out = selectors.render_conversation(actor, row.conversation)
            out.update(
                deliveredUpToSeq=row.delivered_up_to_seq,
                readUpToSeq=row.read_up_to_seq,
                unread=row.unread,
            )
            results.append(out)
        return Response({"results": results})


class ConversationDetailView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(operation_id="conversations_retrieve", responses={200: ConversationOut})
    def get(self, request: Request, conversation_id: int) -> Response:
        actor = api_principal(request)
        conversation = selectors.conversation_for(actor, conversation_id)
        return Response(_conversation_body(request, conversation))


class OrderConversationView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        operation_id="orders_conversation",
        responses={
            200: ConversationOut,
            404: OpenApiResponse(description="NOT_FOUND_OR_NO_ACCESS"),
        },
        summary="The order's conversation (every order has one, dormant until needed).",
    )
    def get(self, request: Request, order_id: int) -> Response:
        actor = api_principal(request)
        conversation = selectors.conversation_for_order(actor, order_id)
        return Response(_conversation_body(request, conversation))


class ActivateView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        operation_id="conversations_activate",
        request=ActivateIn,
        responses={
            200: ConversationOut,
            400: OpenApiResponse(
                description="VALIDATION_ERROR: reasonCode not one of "
                + ", ".join(ActivationReason.values)
            ),
            404: OpenApiResponse(description="NOT_FOUND_OR_NO_ACCESS"),
            409: OpenApiResponse(description="CONVERSATION_FROZEN or CONVERSATION_CLOSED"),
        },
        summary="A party opens the dormant chat with a reason; the others are notified.",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        data = ActivateIn(data=request.data)
        data.is_valid(raise_exception=True)
        actor = api_principal(request)
        conversation = services.conversation_activate(
            actor=actor,
            conversation_id=conversation_id,
            reason_code=data.validated_data["reason_code"],
        )
        return Response(_conversation_body(request, conversation))


class MessagesView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        operation_id="conversations_messages_list",
        parameters=[
            OpenApiParameter(
                "afterSeq", int, description="Messages with a larger seq (default 0)."
            ),
            OpenApiParameter("limit", int, description="Page size, at most 200 (default 50)."),
        ],
        responses={
            200: inline_serializer(
                "MessagePage",
                {
                    "results": inline_serializer("MessageItem", _MESSAGE_FIELDS, many=True),
                    "nextAfterSeq": serializers.IntegerField(allow_null=True),
                    "hasMore": serializers.BooleanField(),
                    "lastSeq": serializers.IntegerField(),
                },
            )
        },
        summary="Read messages in seq order (cursor pagination by seq).",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        actor = api_principal(request)
        after = _int_param(request, "afterSeq", default=0, minimum=0) or 0
        limit = _int_param(request, "limit", default=None, minimum=1)
        if limit is not None and limit > selectors.PAGE_MAX:
            raise ValidationFailed(details={"limit": [f"At most {selectors.PAGE_MAX}."]})
        conversation = selectors.conversation_for(actor, conversation_id)
        page = selectors.messages_page(actor, conversation, after_seq=after, limit=limit)
        return Response(
            {
                "results": [selectors.render_message(actor, m) for m in page.messages],
                "nextAfterSeq": page.next_after_seq,
                "hasMore": page.has_more,
                "lastSeq": page.last_seq,
            }
        )

    @extend_schema(
        operation_id="conversations_messages_send",
        request=SendIn,
        responses={
            201: MessageOut,
            200: OpenApiResponse(MessageOut, description="A retry: the original message."),
            400: OpenApiResponse(description="VALIDATION_ERROR: empty or over 2,000 characters"),
            404: OpenApiResponse(description="NOT_FOUND_OR_NO_ACCESS"),
            409: OpenApiResponse(
                description="CONVERSATION_NOT_ACTIVE, CONVERSATION_FROZEN, CONVERSATION_CLOSED"
            ),
            422: OpenApiResponse(
                description="MESSAGE_BLOCKED (with reasons) or IDEMPOTENCY_KEY_REUSED"
            ),
            429: OpenApiResponse(description="RATE_LIMITED, with Retry-After"),
        },
        summary="Send a message (idempotent per clientMessageId; moderated before storing).",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        client_message_id, body = services.send_input(request.data)
        actor = api_principal(request)
        result = services.message_send(
            actor=actor,
            conversation_id=conversation_id,
            client_message_id=client_message_id,
            body=body,
        )
        return Response(services.render_send(actor, result), status=201 if result.created else 200)


# --- abuse reports (issue 14, Deliver 8) -------------------------------------------------------

# Imported here, with the views that use it, so the section stays append-only for merges.
from aventide.core.serializers import StrictIntegerField  # noqa: E402


class ReportIn(StrictSerializer):
    message_seq = StrictIntegerField(min_value=1, max_value=2**63 - 1)
    reason_code = StrictCharField(max_length=40)


ReportOut = inline_serializer(
    "ReportOut",
    {
        "id": serializers.IntegerField(),
        "conversationId": serializers.IntegerField(),
        "messageSeq": serializers.IntegerField(),
        "reasonCode": serializers.CharField(),
        "status": serializers.ChoiceField(choices=["open", "resolved"]),
        "createdAt": serializers.DateTimeField(),
    },
)


class ReportView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        operation_id="conversations_report",
        request=ReportIn,
        responses={
            201: ReportOut,
            200: OpenApiResponse(ReportOut, description="Already reported by you: the report."),
            400: OpenApiResponse(
                description="VALIDATION_ERROR: reasonCode not one of "
                + ", ".join(services.ReportReason.values)
            ),
            403: OpenApiResponse(description="FORBIDDEN: staff do not file reports"),
            404: OpenApiResponse(description="NOT_FOUND_OR_NO_ACCESS or MESSAGE_NOT_FOUND"),
            422: OpenApiResponse(description="MESSAGE_NOT_REPORTABLE: your own or a system one"),
        },
        summary="A party reports a message to support (once per message per reporter).",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        data = ReportIn(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.conversation_report(
            actor=api_principal(request),
            conversation_id=conversation_id,
            message_seq=data.validated_data["message_seq"],
            reason_code=data.validated_data["reason_code"],
        )
        report = result.report
        body = {
            "id": report.pk,
            "conversationId": report.conversation_id,
            "messageSeq": data.validated_data["message_seq"],
            "reasonCode": report.reason_code,
            "status": report.status,
            "createdAt": report.created_at.isoformat(),
        }
        return Response(body, status=201 if result.created else 200)
