"""The error contract and the DomainError base every app subclasses.

Every error a client can see has the body
``{"error": <category>, "code": <UPPER_SNAKE>, "message": <text>, "requestId": <id>}``
(+ ``details`` for field errors) and the response carries ``X-Request-ID``.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from aventide.core import context

# category ("error") by status, so clients can branch coarsely and on `code` precisely.
CATEGORY_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    423: "locked",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def category_for(status: int) -> str:
    if status in CATEGORY_BY_STATUS:
        return CATEGORY_BY_STATUS[status]
    return "client_error" if 400 <= status < 500 else "server_error"


def error_body(
    *,
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | list[Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": category_for(status),
        "code": code,
        "message": message,
        "requestId": request_id or context.get_request_id() or "",
    }
    if details:
        body["details"] = details
    return body


class DomainError(Exception):
    """Base of every error a service raises on purpose.

    Subclasses set ``code`` (stable UPPER_SNAKE) and ``status``; the message is human text
    safe for the client (never PII of other users, never internals).
    """

    code: ClassVar[str] = "DOMAIN_ERROR"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else {}
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        return error_body(
            status=self.status, code=self.code, message=self.message, details=self.details
        )


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"
    status = HTTPStatus.BAD_REQUEST
    default_message = "The request is not valid."


class AuthRequired(DomainError):
    code = "AUTH_REQUIRED"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "Authentication is required."


class Forbidden(DomainError):
    code = "FORBIDDEN"
    status = HTTPStatus.FORBIDDEN
    default_message = "You are not allowed to do this."


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = HTTPStatus.NOT_FOUND
    default_message = "Not found."


class Conflict(DomainError):
    code = "CONFLICT"
    status = HTTPStatus.CONFLICT
    default_message = "The resource changed; reload and try again."


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = "This idempotency key was already used with a different request."


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    status = HTTPStatus.TOO_MANY_REQUESTS
    default_message = "Too many requests. Retry later."

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(max(int(retry_after), 1))})
        self.retry_after = max(int(retry_after), 1)
