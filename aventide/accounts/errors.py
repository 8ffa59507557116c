"""Domain errors of the accounts app (subclasses of DomainError, each with a stable code).

Every authentication failure is a 401 with its own code so clients know whether to refresh
(``TOKEN_EXPIRED``), log in again (``TOKEN_INVALID``) or send credentials (``AUTH_REQUIRED``).
Messages never say whether an email exists.
"""

from __future__ import annotations

from http import HTTPStatus

from aventide.core.errors import AuthRequired, DomainError, Forbidden, RateLimited

__all__ = [
    "AccountLocked",
    "AccountRequired",
    "AnonIdentityExpired",
    "AnonIdentityRevoked",
    "AnonIdentityUnknown",
    "AnonSignatureInvalid",
    "AuthRequired",
    "DomainError",
    "EmailTaken",
    "GoogleEmailUnverified",
    "GoogleLinkRefused",
    "GoogleNotConfigured",
    "GoogleTokenInvalid",
    "GoogleUnavailable",
    "InvalidCredentials",
    "LoginRateLimited",
    "ProtectedAccount",
    "RefreshTokenReused",
    "ScopeViolation",
    "StaffLevelRequired",
    "TokenExpired",
    "TokenInvalid",
    "UnknownCountry",
    "WsTicketInvalid",
]


class TokenExpired(DomainError):
    code = "TOKEN_EXPIRED"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The token has expired; refresh it or log in again."


class TokenInvalid(DomainError):
    code = "TOKEN_INVALID"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The token is not valid; log in again."


class RefreshTokenReused(TokenInvalid):
    """A used refresh token was presented again: the whole session family is revoked.

    Same code as any invalid token, so a thief learns nothing from the answer."""


class InvalidCredentials(DomainError):
    code = "INVALID_CREDENTIALS"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The email or password is not correct."


class AccountLocked(RateLimited):
    code = "ACCOUNT_LOCKED"
    default_message = "Too many failed logins for this account from here. Retry later."


class LoginRateLimited(RateLimited):
    code = "RATE_LIMITED"
    default_message = "Too many login attempts from here. Retry later."


class ThrottleUnavailable(DomainError):
    """The login throttle's shared store (Redis) cannot be reached: the auth endpoints refuse
    rather than run unthrottled (the general API throttle lets requests through instead)."""

    code = "SERVICE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "Sign-in is briefly unavailable. Retry in a moment."


class EmailTaken(DomainError):
    code = "EMAIL_TAKEN"
    status = HTTPStatus.CONFLICT
    default_message = "An account with this email already exists; log in instead."


class UnknownCountry(DomainError):
    code = "VALIDATION_ERROR"
    status = HTTPStatus.BAD_REQUEST
    default_message = "The request is not valid."


class AnonSignatureInvalid(DomainError):
    code = "ANON_SIGNATURE_INVALID"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The anonymous identity or its signature is not valid."


class AnonIdentityUnknown(AnonSignatureInvalid):
    """Well signed but no such identity (deleted, or a different environment's key)."""


class AnonIdentityExpired(DomainError):
    code = "ANON_IDENTITY_EXPIRED"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "This gift link has expired."


class AnonIdentityRevoked(DomainError):
    code = "ANON_IDENTITY_REVOKED"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "This gift link was revoked."


class GoogleTokenInvalid(DomainError):
    code = "GOOGLE_TOKEN_INVALID"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The Google sign-in token is not valid."


class GoogleEmailUnverified(DomainError):
    code = "GOOGLE_EMAIL_UNVERIFIED"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The Google account's email is not verified."


class GoogleLinkRefused(DomainError):
    """A Google identity whose email belongs to a staff account with no Google link yet.

    Staff accounts are never linked automatically (a Google account with the same email is not
    proof enough to open the staff console); they log in with their password."""

    code = "GOOGLE_LINK_REFUSED"
    status = HTTPStatus.FORBIDDEN
    default_message = "This account cannot sign in with Google; sign in with its password."


class GoogleNotConfigured(DomainError):
    """Google login is switched off here (no client ids): a 404, not a 5xx, so an environment
    without Google never feeds METRIC_AUTH_5XX (a SEV1 signal in the runbook)."""

    code = "GOOGLE_LOGIN_DISABLED"
    status = HTTPStatus.NOT_FOUND
    default_message = "Google sign-in is not enabled."


class GoogleUnavailable(DomainError):
    code = "GOOGLE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "Google sign-in is temporarily unavailable. Retry later."


class WsTicketInvalid(DomainError):
    code = "WS_TICKET_INVALID"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The WebSocket ticket is not valid, expired or was already used."


class AccountRequired(Forbidden):
    code = "ACCOUNT_REQUIRED"
    default_message = "This needs a registered account."


class StaffLevelRequired(DomainError):
    code = "STAFF_LEVEL_REQUIRED"
    status = HTTPStatus.FORBIDDEN
    default_message = "Your staff level does not allow this."


class ProtectedAccount(DomainError):
    """A non-superuser tried to change a superuser, an ops lead or a staff member of the same
    or a higher level (audited ``user.change_refused``)."""

    code = "PROTECTED_ACCOUNT"
    status = HTTPStatus.FORBIDDEN
    default_message = "Only a superuser can change this account."


class ScopeViolation(DomainError):
    code = "SCOPE_VIOLATION"
    status = HTTPStatus.FORBIDDEN
    default_message = "This is outside the countries you operate in."


class AnonymousIdentityNotFound(DomainError):
    code = "NOT_FOUND"
    status = HTTPStatus.NOT_FOUND
    default_message = "Not found."


# AUTH_REQUIRED (401) is the kernel's `AuthRequired`, re-exported for callers of accounts.
_ = AuthRequired
