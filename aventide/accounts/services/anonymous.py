"""Anonymous identities: a gift recipient without an account, bound to one order and role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from audit import services as audit
from aventide.accounts import principals, tokens
from aventide.accounts.audit_actions import AnonymousIdentityAction
from aventide.accounts.errors import AnonymousIdentityNotFound, StaffLevelRequired
from aventide.accounts.models import ANONYMOUS_ROLES, AnonymousIdentity
from aventide.accounts.usecase import use_case
from aventide.core.principal import SYSTEM, Principal


@dataclass(frozen=True)
class IssuedAnonymousIdentity:
    anon_id: uuid.UUID
    signature: str
    expires_at: datetime


def sign_anonymous_id(anon_id: uuid.UUID | str) -> str:
    """Signature (base64url HMAC-SHA256, current ANON key) for ``X-Anonymous-Signature``."""
    return tokens.sign_anonymous_id(anon_id)


def anonymous_identity_issue(
    *,
    actor: Principal = SYSTEM,
    order_id: int,
    country_code: str,
    role: str = "recipient",
    ttl: timedelta | None = None,
    anon_id: uuid.UUID | None = None,
) -> IssuedAnonymousIdentity:
    """Create the anonymous identity of one order's party (the recipient without account).

    Called by orders INSIDE its order-creation frame: this joins it (same transaction, same
    attribution), so the identity and its ``anonymous_identity.issued`` audit row exist iff the
    order commits. ``anon_id`` lets the caller choose the id up front (the order row stores
    it). The signature is returned once to be put in the recipient's link; it is never stored.
    """
    if role not in ANONYMOUS_ROLES:
        raise ValueError(f"unknown anonymous role {role!r}")
    country = (country_code or "").upper()
    if len(country) != 2:
        raise ValueError("country_code must be an ISO 3166-1 alpha-2 code")
    lifetime = ttl if ttl is not None else settings.ANON_IDENTITY_TTL
    with use_case(actor):
        identity = AnonymousIdentity.objects.create(
            anon_id=anon_id or uuid.uuid4(),
            order_id=int(order_id),
            country_code=country,
            role=role,
            expires_at=timezone.now() + lifetime,
        )
        audit.record(
            AnonymousIdentityAction.ISSUED,
            ("anonymous_identity", str(identity.anon_id)),
            country_code=country,
            data={"orderId": int(order_id), "role": role, "expiresAt": identity.expires_at},
        )
    return IssuedAnonymousIdentity(
        anon_id=identity.anon_id,
        signature=tokens.sign_anonymous_id(identity.anon_id),
        expires_at=identity.expires_at,
    )


def anonymous_identity_revoke(
    *, actor: Principal, anon_id: uuid.UUID | str, reason: str = ""
) -> AnonymousIdentity:
    """Revoke an anonymous identity (its link stops working within the principal cache TTL,
    at once in this process). Idempotent.

    ``actor``: staff L2+ scoped to the identity's country (a refusal is audited), or the system
    (e.g. orders on cancellation). Anyone else: ``STAFF_LEVEL_REQUIRED``. Unknown ids answer
    ``NOT_FOUND``. Audit: ``anonymous_identity.revoked``.
    """
    if not (actor.is_system or actor.is_staff):
        raise StaffLevelRequired("Only staff L2+ (or the system) can revoke a recipient link.")
    try:
        key = uuid.UUID(str(anon_id))
    except ValueError:
        raise AnonymousIdentityNotFound() from None
    with use_case(actor) as uc:
        identity = uc.lock(AnonymousIdentity.objects.filter(anon_id=key))
        if identity is None:
            raise AnonymousIdentityNotFound()
        uc.require_scope(
            identity.country_code,
            action="anonymous_identity.revoke",
            target=f"anonymous_identity:{key}",
        )
        if not actor.is_system:
            uc.require_level("L2")
        if identity.revoked_at is not None:
            return identity
        identity.revoked_at = timezone.now()
        identity.save(update_fields=["revoked_at"])
        audit.record(
            AnonymousIdentityAction.REVOKED,
            ("anonymous_identity", str(identity.anon_id)),
            country_code=identity.country_code,
            data={"orderId": identity.order_id, "reason": reason[:200]},
        )
        principals.forget_anonymous_on_change(key)
    return identity
