"""Test-only views exercising each failure mode of the error contract."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from aventide.core.errors import DomainError


class OrderStateConflict(DomainError):
    code = "ORDER_STATE_CONFLICT"
    status = 409
    default_message = "The order changed meanwhile."


class EchoInput(serializers.Serializer[Any]):
    client_message_id = serializers.UUIDField()
    body = serializers.CharField(max_length=10)


class EchoView(APIView):
    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []

    def post(self, request: Request) -> Response:
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"ok": True})


class DomainErrorView(APIView):
    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        raise OrderStateConflict()


class CrashView(APIView):
    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        raise RuntimeError("db password=hunter2 for maria.lopez@example.com")


class OnePerMinute(AnonRateThrottle):
    rate = "1/min"


class ThrottledView(APIView):
    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []
    throttle_classes = [OnePerMinute]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class PrivateView(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def plain_crash(request: HttpRequest) -> HttpResponse:
    raise ValueError("plain django view crashed with secret-text")


def plain_ok(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})


def plain_http404(request: HttpRequest) -> HttpResponse:
    from django.http import Http404

    raise Http404("no such thing for maria@example.com")


def plain_denied(request: HttpRequest) -> HttpResponse:
    from django.core.exceptions import PermissionDenied

    raise PermissionDenied


def plain_domain_error(request: HttpRequest) -> HttpResponse:
    raise OrderStateConflict()


def plain_own_json_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"detail": "bad"}, status=400)


def plain_429_without_retry_after(request: HttpRequest) -> HttpResponse:
    return HttpResponse("slow down", status=429)


urlpatterns = [
    path("api/_test/echo", EchoView.as_view()),
    path("api/_test/domain", DomainErrorView.as_view()),
    path("api/_test/crash", CrashView.as_view()),
    path("api/_test/throttled", ThrottledView.as_view()),
    path("api/_test/private", PrivateView.as_view()),
    path("api/_test/plain-crash", plain_crash),
    path("api/_test/plain-ok", plain_ok),
    path("api/_test/plain-404", plain_http404),
    path("api/_test/plain-403", plain_denied),
    path("api/_test/plain-domain", plain_domain_error),
    path("api/_test/plain-own-json", plain_own_json_error),
    path("api/_test/plain-429", plain_429_without_retry_after),
    path("", include("aventide.urls")),
]

handler404 = "aventide.core.handlers.handler404"
handler500 = "aventide.core.handlers.handler500"


class FailingMiddleware:
    """Raises for one path, to prove a middleware failure still answers the contract."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/api/_test/plain-ok" and request.headers.get("X-Break") == "1":
            raise RuntimeError("middleware exploded")
        response: HttpResponse = self.get_response(request)
        return response
