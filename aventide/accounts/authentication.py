"""DRF authentication: ``Authorization: Bearer <jwt>`` and signed anonymous identities.

Both resolve the caller into a `Principal` (``request.user``) once, and bind it into the
request context (logs, audit). The state behind a token is cached for a few seconds per
process (``aventide.accounts.principals``), so authenticating costs no database round trip
on a warm cache. Failures raise accounts' DomainErrors, rendered by the global handler as the
error contract (401 + ``WWW-Authenticate``): ``TOKEN_EXPIRED``, ``TOKEN_INVALID``,
``ANON_SIGNATURE_INVALID``, ``ANON_IDENTITY_EXPIRED``, ``ANON_IDENTITY_REVOKED``. No
credentials at all: the view's permission answers ``AUTH_REQUIRED``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from aventide.accounts import principals, tokens
from aventide.accounts.errors import AnonSignatureInvalid, TokenInvalid
from aventide.core.context import set_principal
from aventide.core.errors import DomainError
from aventide.core.principal import Principal

ANON_ID_HEADER = "X-Anonymous-Id"
ANON_SIGNATURE_HEADER = "X-Anonymous-Signature"


def _fail(request: Request, error: DomainError) -> DomainError:
    # DRF only marks the request unauthenticated for its own APIException; do it for ours so
    # nothing later re-runs authentication (and fails again) while rendering the error.
    request._not_authenticated()
    return error


class JWTAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>`` -> ``request.user`` = the `Principal`,
    ``request.auth`` = the verified claims. Other schemes are left to other classes."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Principal, dict[str, Any]] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise _fail(request, TokenInvalid())
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise _fail(request, TokenInvalid()) from None
        try:
            claims = tokens.decode_token(raw, typ=tokens.ACCESS)
        except DomainError as exc:
            raise _fail(request, exc) from None
        principal = principals.principal_for_access_token(
            user_id=claims["sub"], family_id=str(claims.get("fam", ""))
        )
        if principal is None:  # deactivated, deleted, or the session was revoked
            raise _fail(request, TokenInvalid())
        set_principal(principal)
        return principal, claims

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class AnonymousIdentityAuthentication(BaseAuthentication):
    """``X-Anonymous-Id`` + ``X-Anonymous-Signature`` -> ``request.user`` = an anonymous
    `Principal`, which reaches only its own order (see `aventide.accounts.permissions`)."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        raw_id = request.headers.get(ANON_ID_HEADER)
        signature = request.headers.get(ANON_SIGNATURE_HEADER)
        if raw_id is None and signature is None:
            return None
        if not raw_id or not signature:
            raise _fail(request, AnonSignatureInvalid())
        anon_id = tokens.parse_anonymous_id(raw_id)
        if anon_id is None or not tokens.verify_anonymous_signature(anon_id, signature):
            raise _fail(request, AnonSignatureInvalid())
        try:
            principal = principals.principal_for_anonymous_id(anon_id)
        except DomainError as exc:
            raise _fail(request, exc) from None
        set_principal(principal)
        return principal, None

    def authenticate_header(self, request: Request) -> str:
        return 'AnonymousIdentity realm="api"'
