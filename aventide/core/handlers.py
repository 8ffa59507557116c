"""Turn every failure into the error contract: DRF views, Django 404/500, middleware.

`drf_exception_handler` is DRF's EXCEPTION_HANDLER; `handler404`/`handler500` are wired in
the root urlconf; `contract_response_for` is used by the request middleware to rewrite any
non-contract error under ``/api/`` (Django's own 404/405/CSRF pages, a middleware failure).
Outside ``/api/`` (the admin) Django's HTML pages are kept.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from aventide.core import context
from aventide.core.db_errors import as_connection_lost
from aventide.core.errors import DomainError, error_body
from aventide.core.logging import get_logger

logger = get_logger("aventide.errors")

API_PREFIX = "/api/"

_DEFAULT_CODES: dict[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "The request is not valid."),
    401: ("AUTH_REQUIRED", "Authentication is required."),
    403: ("FORBIDDEN", "You are not allowed to do this."),
    404: ("NOT_FOUND", "Not found."),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed here."),
    406: ("NOT_ACCEPTABLE", "The requested representation is not available."),
    409: ("CONFLICT", "The resource changed; reload and try again."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Send JSON (application/json)."),
    429: ("RATE_LIMITED", "Too many requests. Retry later."),
    500: ("INTERNAL_ERROR", "Something went wrong on our side. Quote the requestId."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}


def default_code(status: int) -> tuple[str, str]:
    if status in _DEFAULT_CODES:
        return _DEFAULT_CODES[status]
    return (
        ("INTERNAL_ERROR", _DEFAULT_CODES[500][1])
        if status >= 500
        else (
            "BAD_REQUEST",
            "The request could not be completed.",
        )
    )


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def json_error(
    status: int,
    code: str | None = None,
    message: str | None = None,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    dcode, dmessage = default_code(status)
    response = JsonResponse(
        error_body(status=status, code=code or dcode, message=message or dmessage, details=details),
        status=status,
    )
    for key, value in (headers or {}).items():
        response[key] = value
    if status == 429 and not response.has_header("Retry-After"):
        response["Retry-After"] = "1"
    rid = context.get_request_id()
    if rid:
        response[context.REQUEST_ID_HEADER] = rid
    return response


def _retry_after(wait: float | None) -> str:
    return str(max(1, math.ceil(wait or 1)))


def drf_exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response:
    """DRF EXCEPTION_HANDLER: every exception becomes the contract (500 never leaks text)."""
    headers: dict[str, str] = {}
    details: Any = None
    exc = as_connection_lost(exc) or exc  # a lost database connection: 503, retry
    if isinstance(exc, DomainError):
        status, code, message = int(exc.status), exc.code, exc.message
        details, headers = exc.details, dict(exc.headers)
    elif isinstance(exc, drf_exceptions.ValidationError):
        status, code, message = 400, "VALIDATION_ERROR", "The request is not valid."
        details = exc.detail if isinstance(exc.detail, dict) else {"nonFieldErrors": exc.detail}
    elif isinstance(exc, drf_exceptions.ParseError):
        status, code, message = 400, "VALIDATION_ERROR", "The request body is not valid JSON."
    elif isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        status, code, message = 401, "AUTH_REQUIRED", "Authentication is required."
    elif isinstance(exc, drf_exceptions.Throttled):
        status, code, message = 429, "RATE_LIMITED", "Too many requests. Retry later."
        headers["Retry-After"] = _retry_after(getattr(exc, "wait", None))
    elif isinstance(exc, drf_exceptions.PermissionDenied | DjangoPermissionDenied):
        status, code, message = 403, "FORBIDDEN", "You are not allowed to do this."
    elif isinstance(exc, drf_exceptions.NotFound | Http404):
        status, code, message = 404, "NOT_FOUND", "Not found."
    elif isinstance(exc, drf_exceptions.MethodNotAllowed):
        status, code, message = 405, "METHOD_NOT_ALLOWED", "This method is not allowed here."
    elif isinstance(exc, drf_exceptions.APIException):
        status = int(exc.status_code)
        code, message = default_code(status)
    else:
        status, (code, message) = 500, default_code(500)
        logger.error("UNHANDLED_EXCEPTION", exc_info=exc, view=type(ctx.get("view")).__name__)
    if status >= 500 and isinstance(exc, DomainError | drf_exceptions.APIException):
        logger.warning("SERVER_ERROR_RESPONSE", code=code, status=status)
    if status == 429:
        headers.setdefault("Retry-After", "1")
    set_rollback()
    response = Response(
        error_body(status=status, code=code, message=message, details=details),
        status=status,
        headers=headers,
    )
    auth_header = None
    view = ctx.get("view")
    if status == 401 and view is not None and hasattr(view, "get_authenticate_header"):
        request = ctx.get("request")
        auth_header = view.get_authenticate_header(request) if request is not None else None
    if auth_header:
        response["WWW-Authenticate"] = auth_header
    if status >= 500:
        response._has_been_logged = True  # type: ignore[attr-defined]  # logged above, once
    return response


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(404)
    return defaults.page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        # Django calls this inside its ``except`` block: the exception is at hand
        lost = as_connection_lost(sys.exc_info()[1] or Exception())
        if lost is not None:
            return response_for_domain_error(lost)
        return json_error(500)
    return defaults.server_error(request)


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Catch-all for unknown ``/api/`` paths, so they answer JSON whatever DEBUG says."""
    return json_error(404)


def _is_contract_body(response: HttpResponse) -> bool:
    if not response.get("Content-Type", "").startswith("application/json"):
        return False
    if getattr(response, "streaming", False):
        return False
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return False
    return isinstance(body, dict) and {"error", "code", "message", "requestId"} <= set(body)


def contract_response_for(response: HttpResponse) -> HttpResponse:
    """Rewrite an error response that is not already the contract (Django HTML pages, a
    view's own JSON without ``code``/``requestId``), keeping its status and retry hints."""
    if _is_contract_body(response):
        return response
    status = response.status_code
    headers = {}
    if response.has_header("Retry-After"):
        headers["Retry-After"] = response["Retry-After"]
    if response.has_header("Allow"):
        headers["Allow"] = response["Allow"]
    return json_error(status, headers=headers)


def response_for_domain_error(exc: DomainError) -> JsonResponse:
    """The contract response of a DomainError raised outside DRF (plain Django views)."""
    return json_error(
        int(exc.status), exc.code, exc.message, details=exc.details, headers=dict(exc.headers)
    )
