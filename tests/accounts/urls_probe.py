"""Test-only views: an order-scoped endpoint recipients may use, and a default one."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.accounts.contracts import api_principal
from aventide.accounts.permissions import IsUserOrAnonymousIdentity, require_order_access
from aventide.core.context import get_principal


class OrderProbeView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    def get(self, request: Request, order_id: int) -> Response:
        require_order_access(api_principal(request), order_id)
        bound = get_principal()
        return Response(
            {
                "orderId": order_id,
                "actor": api_principal(request).as_log(),
                "contextActor": bound.as_log() if bound else None,
            }
        )


class DefaultProbeView(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("api/_probe/orders/<int:order_id>", OrderProbeView.as_view()),
    path("api/_probe/default", DefaultProbeView.as_view()),
    path("", include("aventide.urls")),
]

handler404 = "aventide.core.handlers.handler404"
handler500 = "aventide.core.handlers.handler500"
