"""Health and metrics endpoints (plain Django views: no auth classes, no DB on /healthz)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from aventide.core import context
from aventide.core.handlers import json_error
from aventide.core.metrics import exposition
from aventide.ops.health import overall_status, run_checks


@csrf_exempt
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No I/O at all."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: every registered check; 503 naming the failing ones (``degraded``: 200)."""
    results = run_checks()
    failing = [r.name for r in results if r.status == "fail"]
    body: dict[str, object] = {
        "status": overall_status(results),
        "checks": {r.name: r.as_dict() for r in results},
        "requestId": context.get_request_id(),
    }
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


def _metrics_allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    return False


@csrf_exempt
@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; staff session or `Authorization: Bearer $METRICS_TOKEN`."""
    if not _metrics_allowed(request):
        return json_error(401 if not request.headers.get("Authorization") else 403)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
