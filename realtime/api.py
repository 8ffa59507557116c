"""REST API of the realtime event log: catchup. Parse, call one selector, render."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from aventide.accounts.contracts import IsUserOrAnonymousIdentity, api_principal
from aventide.core.errors import ValidationFailed
from realtime import selectors

EVENT_FRAME_FIELDS: dict[str, Any] = {
    "type": serializers.ChoiceField(choices=["event"]),
    "id": serializers.IntegerField(help_text="The event's cursor."),
    "stream": serializers.CharField(help_text="e.g. order:42, conversation:7"),
    "event": serializers.CharField(help_text="The event type, e.g. order.status_changed."),
    "data": serializers.DictField(help_text="The event's payload (ids and states, no PII)."),
    "createdAt": serializers.DateTimeField(),
}

CatchupOut = inline_serializer(
    name="RealtimeCatchup",
    fields={
        "events": inline_serializer(name="RealtimeEvent", fields=EVENT_FRAME_FIELDS, many=True),
        "nextCursor": serializers.IntegerField(
            help_text="Send it as `since` next time (and resume the WebSocket from it)."
        ),
        "hasMore": serializers.BooleanField(help_text="Another page follows: call again now."),
    },
)


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise ValidationFailed(details={"limit": ["A positive integer (at most 500 are used)."]})
    return int(raw)


class CatchupView(APIView):
    """The caller's realtime events after a cursor: what a client missed while offline."""

    permission_classes = [IsUserOrAnonymousIdentity]
    # Frames are already camelCase and must be byte-for-byte what the WebSocket sends (the
    # payload's keys included): no key conversion.
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="realtime_catchup",
        parameters=[
            OpenApiParameter(
                "since",
                str,
                description="The last cursor the client holds (an event id, or a `nextCursor`). "
                "Omit it to get the current cursor and no events (a fresh client).",
            ),
            OpenApiParameter(
                "limit", int, description="Events per page: default 200, at most 500 (clamped)."
            ),
        ],
        responses={
            200: CatchupOut,
            400: OpenApiResponse(
                description="`since` is malformed or ahead of the log (INVALID_CURSOR), or "
                "`limit` is not a positive integer (VALIDATION_ERROR)."
            ),
            410: OpenApiResponse(
                description="`since` is older than the log's retention (CURSOR_EXPIRED): "
                "reload the state, then catch up without `since`."
            ),
        },
        summary="Catch up on the caller's realtime events after a cursor, in order.",
    )
    def get(self, request: Request) -> HttpResponse:
        page = selectors.catchup(
            principal=api_principal(request),
            since=request.query_params.get("since"),
            limit=_limit(request),
        )
        # The frames arrive as the JSON array the database built: written as is, not parsed
        # and re-rendered (the documented shape: tests/realtime/test_catchup.py).
        has_more = "true" if page.has_more else "false"
        body = (
            f'{{"events":{page.events_json},"nextCursor":{int(page.next_cursor)},'
            f'"hasMore":{has_more}}}'
        )
        return HttpResponse(body, content_type="application/json")
