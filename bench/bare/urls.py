"""Two constant-JSON views: the framework's floor cost per request, async and sync."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

#: Shaped like GET /api/auth/me's body (same keys, similar size).
BODY = {
    "id": 1,
    "email": "buyer.0@bench.aventide.test",
    "fullName": "Bench user",
    "countryCode": "AR",
    "isSeller": False,
    "isStaff": False,
    "staff": None,
}


def _answer(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(BODY)
    # Echoed like the product's answers do: the wrk generator matches answers by it.
    response["X-Request-ID"] = request.headers.get("X-Request-ID", "")
    return response


async def bare_async(request: HttpRequest) -> JsonResponse:
    return _answer(request)


def bare_sync(request: HttpRequest) -> JsonResponse:
    return _answer(request)


urlpatterns = [
    path("bare/async", bare_async),
    path("bare/sync", bare_sync),
]
