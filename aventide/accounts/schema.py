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
