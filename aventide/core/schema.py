"""drf-spectacular hooks: the `Error` schema on every operation."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The error contract: every error of the API has this body.",
    "properties": {
        "error": {"type": "string", "description": "Coarse category, e.g. not_found."},
        "code": {"type": "string", "description": "Stable UPPER_SNAKE code to branch on."},
        "message": {"type": "string", "description": "Human readable, safe to show."},
        "requestId": {"type": "string", "description": "Correlates logs and audit."},
        "details": {
            "type": "object",
            "additionalProperties": True,
            "description": "Field errors (VALIDATION_ERROR only).",
        },
    },
    "required": ["error", "code", "message", "requestId"],
}

COMMON_ERRORS: dict[str, str] = {
    "400": "Invalid input (VALIDATION_ERROR).",
    "401": "Missing or invalid credentials (AUTH_REQUIRED, TOKEN_EXPIRED, TOKEN_INVALID).",
    "403": "Not allowed (FORBIDDEN, SCOPE_VIOLATION).",
    "404": "Not found, or not visible to the caller (NOT_FOUND).",
    "429": "Throttled (RATE_LIMITED); see the Retry-After header.",
    "500": "Unexpected failure (INTERNAL_ERROR); quote the requestId.",
}
#: Errors of operations that take a body (core.parsers, core.body_limit).
BODY_ERRORS: dict[str, str] = {
    "413": "The body is over the size limit (PAYLOAD_TOO_LARGE); it was not read.",
    "415": "The body is not application/json (UNSUPPORTED_MEDIA_TYPE).",
}


def add_error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: register `Error` and document it for each error status."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            errors = {**COMMON_ERRORS, **(BODY_ERRORS if "requestBody" in operation else {})}
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
            # A documented error response that reuses `Error` keeps its own description.
            for status, response in responses.items():
                if status.startswith(("4", "5")) and "content" not in response:
                    response["content"] = {"application/json": {"schema": ref}}
    return result
