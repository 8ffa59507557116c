"""Login sessions: JWT access tokens + rotating single-use refresh tokens (refresh families)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from audit import services as audit
from aventide.accounts import principals, tokens
from aventide.accounts.audit_actions import AuthAction
from aventide.accounts.errors import RefreshTokenReused, TokenInvalid
from aventide.accounts.models import RefreshFamily, RefreshToken, User
from aventide.accounts.usecase import UseCase, use_case
from aventide.core import metrics
from aventide.core.principal import SYSTEM, Principal


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    access_expires_in: int
    family_id: uuid.UUID


def _issue_pair(*, user: User, family: RefreshFamily) -> TokenPair:
    extra = {"fam": str(family.pk)}
    access = tokens.encode_token(
        subject=str(user.pk), typ=tokens.ACCESS, ttl=settings.JWT_ACCESS_TTL, extra=extra
    )
    refresh = tokens.encode_token(
        subject=str(user.pk), typ=tokens.REFRESH, ttl=settings.JWT_REFRESH_TTL, extra=extra
    )
    RefreshToken.objects.create(
        jti=refresh.jti,
        family=family,
        issued_at=refresh.issued_at,
        expires_at=refresh.expires_at,
    )
    return TokenPair(
        access=access.token,
        refresh=refresh.token,
        access_expires_in=int(settings.JWT_ACCESS_TTL.total_seconds()),
        family_id=family.pk,
    )


def session_start(*, user: User, method: str) -> TokenPair:
    """Open a login session (a refresh family) and issue its first token pair.

    Called by the login services once the user proved who they are (no principal yet: the
    session is opened by the system on their behalf)."""
    with use_case(SYSTEM):
        family = RefreshFamily.objects.create(user=user, method=method)
        return _issue_pair(user=user, family=family)


def revoke_family(
    uc: UseCase, family: RefreshFamily, *, reason: str, actor: Principal | None = None
) -> RefreshFamily:
    """Revoke one family (the caller's frame holds its row lock) + audit (attributed to the
    frame, or to ``actor``). The user's cached principals are dropped
    (``principals.forget_user_on_change``)."""
    if family.revoked_at is not None:
        return family
    family.revoked_at = timezone.now()
    family.revoked_reason = reason
    family.save(update_fields=["revoked_at", "revoked_reason"])
    audit.record(
        AuthAction.REFRESH_FAMILY_REVOKED,
        ("refresh_family", str(family.pk)),
        actor=actor,
        country_code=family.user.country_code,
        data={"reason": reason, "userId": family.user_id, "method": family.method},
    )
    principals.forget_user_on_change(family.user_id)
    return family


def revoke_all_sessions(
    uc: UseCase, user: User, *, reason: str, actor: Principal | None = None
) -> None:
    """Revoke every live session of ``user`` inside the caller's frame."""
    families = RefreshFamily.objects.select_for_update(of=("self",)).select_related("user")
    for family in families.filter(user=user, revoked_at__isnull=True):
        revoke_family(uc, family, reason=reason, actor=actor)


def session_refresh(*, refresh_token: str) -> TokenPair:
    """Rotate a refresh token: mark it used and issue a new pair in the same family.

    Single use: presenting a refresh token that was already used revokes the whole family
    (reuse means it was stolen or replayed), so the newer refresh token and the family's access
    tokens stop working too; the caller gets ``TOKEN_INVALID``. The family row is locked
    (``select_for_update``) so concurrent refreshes of one family serialize: exactly one
    rotates, the others see a used token and revoke.
    """
    claims = tokens.decode_token(refresh_token, typ=tokens.REFRESH)
    try:
        family_id = uuid.UUID(str(claims.get("fam")))
        jti = uuid.UUID(str(claims["jti"]))
    except ValueError:
        raise TokenInvalid() from None
    reused = False
    with use_case(SYSTEM) as uc:
        family = uc.lock(
            RefreshFamily.objects.select_related("user").filter(pk=family_id),
        )
        if family is None or str(family.user_id) != claims["sub"] or family.revoked_at:
            raise TokenInvalid()
        if not family.user.is_active:
            raise TokenInvalid()
        token = RefreshToken.objects.filter(jti=jti, family=family).first()
        if token is None:
            raise TokenInvalid()
        if token.used_at is not None:
            revoke_family(uc, family, reason="refresh_reuse")
            reused = True
        else:
            token.used_at = timezone.now()
            token.save(update_fields=["used_at"])
            pair = _issue_pair(user=family.user, family=family)
    if reused:
        metrics.emit("METRIC_AUTH_REFRESH_REUSE")
        raise RefreshTokenReused()
    return pair


def session_logout(
    *, actor: Principal, family_id: uuid.UUID | str | None, everywhere: bool = False
) -> int:
    """Revoke the caller's session (its refresh family), or every session with
    ``everywhere``. Returns how many families were revoked. Idempotent."""
    user_id = actor.user_id
    if user_id is None:
        return 0  # only people with an account have sessions
    with use_case(actor) as uc:
        families = (
            RefreshFamily.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(user_id=user_id, revoked_at__isnull=True)
        )
        if not everywhere:
            try:
                families = families.filter(pk=uuid.UUID(str(family_id)))
            except ValueError:
                return 0
        revoked = 0
        for family in families:
            revoke_family(uc, family, reason="logout_all" if everywhere else "logout")
            revoked += 1
    return revoked
