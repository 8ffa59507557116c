"""drf-spectacular: document our two authentication schemes (imported by AppConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "aventide.accounts.authentication.JWTAuthentication"
    name = "jwt"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class AnonymousIdentityScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "aventide.accounts.authentication.AnonymousIdentityAuthentication"
    name = ["anonymousId", "anonymousSignature"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "apiKey", "in": "header", "name": "X-Anonymous-Id"},
            {"type": "apiKey", "in": "header", "name": "X-Anonymous-Signature"},
        ]


ACCOUNT_REQUIRED_403 = (
    "ACCOUNT_REQUIRED: a recipient's anonymous identity (X-Anonymous-Id + "
    "X-Anonymous-Signature) cannot use this endpoint; it needs a registered account."
)


def document_account_required(
    result: dict[str, Any], generator: Any, request: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """Postprocessing hook: every account-only operation documents 403 ``ACCOUNT_REQUIRED``.

    Account-only is read from the view's permissions (`view_requires_account`), the same
    objects that refuse the request, so the schema cannot claim what the code does not do.
    Runs before ``aventide.core.schema.add_error_responses``, which keeps this description and
    adds the ``Error`` body.
    """
    from drf_spectacular.plumbing import build_mock_request

    from aventide.accounts.permissions import view_requires_account

    paths = result.get("paths", {})
    for path, _regex, method, callback in generator.endpoints or []:
        view = generator.create_view(callback, method)
        view.request = build_mock_request(method, path, view, request)  # type: ignore[no-untyped-call]  # drf-spectacular helper without annotations
        if not view_requires_account(view, method):
            continue
        operation = paths.get(generator.coerce_path(path, method, view), {}).get(method.lower())
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        existing = responses.get("403", {}).get("description", "")
        if "ACCOUNT_REQUIRED" in existing:
            continue
        other = existing or "Not allowed (FORBIDDEN, SCOPE_VIOLATION)."
        responses["403"] = {
            **responses.get("403", {}),
            "description": f"{other} {ACCOUNT_REQUIRED_403}",
        }
    return result
