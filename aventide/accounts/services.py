"""Write use cases of accounts: registration, logins and sessions, anonymous identities,
WebSocket tickets, staff profiles and scopes.

House rules: keyword-only arguments; each service owns its transaction and writes its audit
event inside it; scope checks (`ScopeGuard.check`) run BEFORE the transaction opens so the
``scope.violation`` audit row survives the refusal (see `aventide.accounts.scope`). Login
success/failure are metrics (``METRIC_AUTH_LOGIN_SUCCESS``/``_FAILURE``), not audit rows.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from audit import services as audit_services
from aventide.accounts import google, staff_groups, tokens
from aventide.accounts.contracts import AnonymousActor, actor_for
from aventide.accounts.errors import (
    AnonymousIdentityNotFound,
    EmailTaken,
    GoogleLinkRefused,
    InvalidCredentials,
    ProtectedAccount,
    RefreshTokenReused,
    StaffLevelRequired,
    TokenInvalid,
    WsTicketInvalid,
)
from aventide.accounts.models import (
    ANONYMOUS_ROLES,
    STAFF_LEVEL_RANK,
    AnonymousIdentity,
    Country,
    RefreshFamily,
    RefreshToken,
    StaffCountryScope,
    StaffProfile,
    User,
)
from aventide.accounts.scope import ScopeGuard, is_ops_lead, staff_level
from aventide.accounts.throttling import LoginGuard, fingerprint, fold_login, limits
from aventide.core import metrics
from aventide.core.context import Actor
from aventide.core.errors import DomainError, RateLimited, ValidationFailed
from aventide.core.logging import get_logger

logger = get_logger("aventide.accounts")

WS_TICKET_TTL_SECONDS = 60
WS_TICKET_KEY = "auth:ws-ticket:{}"

# --- sessions (JWT access + rotating refresh) -------------------------------------------


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
    """Open a login session (a refresh family) and issue its first token pair."""
    with transaction.atomic():
        family = RefreshFamily.objects.create(user=user, method=method)
        return _issue_pair(user=user, family=family)


def _revoke_family(
    family: RefreshFamily, *, reason: str, actor: Actor | None = None
) -> RefreshFamily:
    """Revoke one family (caller holds its row lock inside a transaction) + audit."""
    if family.revoked_at is not None:
        return family
    family.revoked_at = timezone.now()
    family.revoked_reason = reason
    family.save(update_fields=["revoked_at", "revoked_reason"])
    audit_services.record(
        "auth.refresh_family.revoked",
        ("refresh_family", str(family.pk)),
        actor=actor,
        country_code=family.user.country_code,
        data={"reason": reason, "userId": family.user_id, "method": family.method},
    )
    return family


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
    with transaction.atomic():
        family = (
            RefreshFamily.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=family_id)
            .first()
        )
        if family is None or str(family.user_id) != claims["sub"] or family.revoked_at:
            raise TokenInvalid()
        if not family.user.is_active:
            raise TokenInvalid()
        token = RefreshToken.objects.filter(jti=jti, family=family).first()
        if token is None:
            raise TokenInvalid()
        if token.used_at is not None:
            _revoke_family(family, reason="refresh_reuse")
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
    *, user: User, family_id: uuid.UUID | str | None, everywhere: bool = False
) -> int:
    """Revoke the caller's session (its refresh family), or every session with
    ``everywhere``. Returns how many families were revoked. Idempotent."""
    actor = actor_for(user)
    with transaction.atomic():
        families = (
            RefreshFamily.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(user=user, revoked_at__isnull=True)
        )
        if not everywhere:
            try:
                families = families.filter(pk=uuid.UUID(str(family_id)))
            except ValueError:
                return 0
        revoked = 0
        for family in families:
            _revoke_family(family, reason="logout_all" if everywhere else "logout", actor=actor)
            revoked += 1
    return revoked


def _revoke_all_sessions(user: User, *, reason: str, actor: Actor | None) -> None:
    families = RefreshFamily.objects.select_for_update(of=("self",)).select_related("user")
    for family in families.filter(user=user, revoked_at__isnull=True):
        _revoke_family(family, reason=reason, actor=actor)


# --- registration and logins -------------------------------------------------------------


def _active_country(code: str | None) -> str:
    country = (code or "").strip().upper()
    if not country or not Country.objects.filter(code=country, active=True).exists():
        raise ValidationFailed(details={"countryCode": ["Unknown or inactive country."]})
    return country


def user_register(*, email: str, password: str, country_code: str, full_name: str = "") -> User:
    """Create a party account with an Argon2-hashed password.

    ``EMAIL_TAKEN`` (409) when the email is registered (case-insensitive); password policy
    failures are ``VALIDATION_ERROR`` with ``details.password``. Audit: ``user.registered``.
    """
    normalized = User.objects.normalize_email(email.strip()).lower()
    country = _active_country(country_code)
    candidate = User(email=normalized, full_name=full_name.strip(), country_code=country)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationFailed(details={"password": list(exc.messages)}) from None
    if User.objects.filter(email__iexact=normalized).exists():
        raise EmailTaken()
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            audit_services.record(
                "user.registered",
                candidate,
                actor=actor_for(candidate),
                data={"method": "password"},
            )
    except IntegrityError:  # a concurrent registration of the same email won
        raise EmailTaken() from None
    return candidate


def _login_failed(method: str, reason: str) -> None:
    metrics.emit("METRIC_AUTH_LOGIN_FAILURE", labels={"method": method, "reason": reason})


def login_guard(*, email: str, ip: str) -> LoginGuard:
    """The lockout state of a login for ``email`` from ``ip``.

    The *login subject* (what the per-account counters are keyed on) is the account the email
    resolves to -- the same case-insensitive match authentication uses, or the folded email
    (NFKC + case folding, `throttling.fold_login`) -- so every spelling that reaches one account
    shares its counters (``SUPER@x``, or ``super@x`` spelled with U+017F long s, count for
    ``super@x``). An email with no account is keyed by its folded string: it locks exactly like
    a real one, so nothing reveals whether the account exists.
    """
    raw = (email or "").strip()
    folded = fold_login(raw)
    user_id = None
    if raw:
        user_id = (
            User.objects.filter(Q(email__iexact=raw) | Q(email__iexact=folded))
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
    subject = f"user:{user_id}" if user_id is not None else f"email:{folded}"
    return LoginGuard(subject, ip, user_id=user_id)


def login_attempt_check(*, email: str, ip: str, method: str = "password") -> LoginGuard:
    """Refuse (429) a login while the IP is blocked or the (account, IP) pair is locked.
    Used by the API login and the admin login form."""
    guard = login_guard(email=email, ip=ip)
    try:
        guard.check()
    except RateLimited as exc:
        _login_failed(method, exc.code)
        raise
    return guard


def login_attempt_failed(*, guard: LoginGuard, email: str = "", method: str = "password") -> None:
    """Count a failed login; a resulting lockout, IP block or the account entering the
    under-attack mode writes its audit event."""
    outcome = guard.record_failure()
    _login_failed(method, "INVALID_CREDENTIALS")
    if outcome.locked or outcome.ip_blocked or outcome.account_under_attack:
        _audit_lockout(
            guard,
            seconds=outcome.lock_seconds,
            ip_blocked=outcome.ip_blocked,
            under_attack=outcome.account_under_attack,
        )


def login_lockout_clear(
    *, actor: Actor, email: str, ip: str, whole_ip: bool = False, whole_account: bool = False
) -> None:
    """Ops unlock: lift the lockout of (account, IP) -- with ``whole_ip`` also the IP block,
    with ``whole_account`` also the account's under-attack mode (its failures from every IP).
    Audit: ``auth.lockout_cleared`` (hashes only, never the email or IP)."""
    guard = login_guard(email=email, ip=ip)
    guard.clear()
    if whole_ip:
        guard.clear_ip()
    if whole_account:
        guard.clear_account()
    user = User.objects.filter(pk=guard.user_id).first() if guard.user_id else None
    with transaction.atomic():
        audit_services.record(
            "auth.lockout_cleared",
            user if user is not None else ("login", fingerprint(guard.subject)),
            actor=actor,
            country_code=user.country_code if user else "",
            data={"ipHash": guard.ip_hash, "wholeIp": whole_ip, "wholeAccount": whole_account},
        )


def login_with_password(
    *, email: str, password: str, ip: str, request: HttpRequest | None = None
) -> TokenPair:
    """Email/password login with lockout per (account, IP), a tighter allowance per IP while
    the account is under attack from many IPs, and throttling per IP (see `throttling`).

    Wrong email and wrong password answer the same ``INVALID_CREDENTIALS`` (and take the same
    time: Django's ModelBackend hashes the password even when no user matches). While the pair
    is locked even the right password answers 429 ``ACCOUNT_LOCKED``; a blocked IP answers 429
    ``RATE_LIMITED``. A lockout writes the audit event ``auth.lockout``.
    """
    normalized = (email or "").strip().lower()
    guard = login_attempt_check(email=normalized, ip=ip)
    user = authenticate(request, email=normalized, password=password) if normalized else None
    if not isinstance(user, User):
        login_attempt_failed(guard=guard)
        raise InvalidCredentials()
    guard.record_success()
    pair = session_start(user=user, method="password")
    metrics.emit("METRIC_AUTH_LOGIN_SUCCESS", labels={"method": "password"})
    return pair


def _audit_lockout(
    guard: LoginGuard, *, seconds: int, ip_blocked: bool, under_attack: bool = False
) -> None:
    user = User.objects.filter(pk=guard.user_id).first() if guard.user_id else None
    target: Any = user if user is not None else ("login", fingerprint(guard.subject))
    country = user.country_code if user else ""
    if under_attack:
        metrics.emit("METRIC_AUTH_ACCOUNT_UNDER_ATTACK")
    with transaction.atomic():
        if under_attack:
            lim = limits()
            audit_services.record(
                "auth.account_under_attack",
                target,
                country_code=country,
                data={
                    "failures": lim.account_failures,
                    "windowSeconds": lim.account_window,
                    "perIpAllowance": lim.attack_lockout_failures,
                    "ipHash": guard.ip_hash,
                },
            )
        if seconds:
            audit_services.record(
                "auth.lockout",
                target,
                country_code=country,
                data={"lockSeconds": seconds, "ipHash": guard.ip_hash},
            )
        if ip_blocked:
            audit_services.record(
                "auth.ip_blocked",
                ("ip", guard.ip_hash),
                country_code="",
                data={"blockSeconds": settings.AUTH_IP_BLOCK_SECONDS},
            )


def login_with_google(*, id_token: str, ip: str, country_code: str | None = None) -> TokenPair:
    """Google login: verify the ID token, then link or create the user.

    Links by Google ``sub`` first, else by the (verified) email; a new account needs
    ``country_code``. Linking an existing account by email (a) is refused for staff and
    superusers (``GOOGLE_LINK_REFUSED``, audited ``auth.google_link_refused``): a Google account
    with the same email is not enough to open the staff console; (b) otherwise disables the
    account's password and revokes every session opened before the link, so whoever
    registered that email first (account pre-hijacking) loses access. Audit:
    ``user.registered`` (method google) or ``user.google_linked``.
    """
    guard = LoginGuard.for_ip(ip)
    guard.check_ip()
    try:
        identity = google.verify_id_token(id_token)
    except DomainError as exc:
        code = exc.code
        _login_failed("google", code)
        if (
            code in {"GOOGLE_TOKEN_INVALID", "GOOGLE_EMAIL_UNVERIFIED"}
            and guard.record_ip_failure()
        ):
            _audit_lockout(guard, seconds=0, ip_blocked=True)
        raise
    try:
        user = _google_user(identity, country_code)
    except IntegrityError:  # a concurrent first login created or linked the same account
        user = _google_user(identity, country_code)
    if not user.is_active:
        _login_failed("google", "INVALID_CREDENTIALS")
        raise InvalidCredentials()
    pair = session_start(user=user, method="google")
    metrics.emit("METRIC_AUTH_LOGIN_SUCCESS", labels={"method": "google"})
    return pair


def _google_user(identity: google.GoogleIdentity, country_code: str | None) -> User:
    """Find (by Google sub, then verified email), link or create the user of ``identity``."""
    with transaction.atomic():
        user = User.objects.select_for_update().filter(google_sub=identity.sub).first()
        if user is not None:
            return user
        user = User.objects.select_for_update().filter(email__iexact=identity.email).first()
        if user is not None:
            if user.google_sub and user.google_sub != identity.sub:
                _login_failed("google", "GOOGLE_ACCOUNT_MISMATCH")
                raise InvalidCredentials()
            if not (user.is_staff or user.is_superuser):
                if user.is_active:
                    _google_link(user, identity)
                return user
            refused = user  # refused after this transaction, so its audit row commits
        else:
            if not country_code:
                raise ValidationFailed(
                    details={"countryCode": ["Required to create a new account."]}
                )
            user = User(
                email=identity.email,
                full_name=identity.name,
                country_code=_active_country(country_code),
                google_sub=identity.sub,
            )
            user.set_unusable_password()
            user.save()
            audit_services.record(
                "user.registered", user, actor=actor_for(user), data={"method": "google"}
            )
            return user
    _login_failed("google", GoogleLinkRefused.code)
    with transaction.atomic():
        audit_services.record(
            "auth.google_link_refused",
            refused,
            country_code=refused.country_code,
            data={"reason": "superuser" if refused.is_superuser else "staff"},
        )
    raise GoogleLinkRefused()


def _google_link(user: User, identity: google.GoogleIdentity) -> None:
    """Link ``user`` (row locked by the caller's transaction) to the Google identity.

    The password stops working and every earlier session is revoked: the Google account
    proved the email, the password did not (anyone could register an email they do not own).
    """
    password_disabled = user.has_usable_password()
    user.google_sub = identity.sub
    fields = ["google_sub"]
    if password_disabled:
        user.set_unusable_password()
        fields.append("password")
    user.save(update_fields=fields)
    actor = actor_for(user)
    audit_services.record(
        "user.google_linked",
        user,
        actor=actor,
        data={"method": "google", "emailLoginDisabled": password_disabled},
    )
    _revoke_all_sessions(user, reason="google_linked", actor=actor)


# --- anonymous identities ----------------------------------------------------------------


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
    order_id: int,
    country_code: str,
    role: str = "recipient",
    ttl: timedelta | None = None,
) -> IssuedAnonymousIdentity:
    """Create the anonymous identity of one order's party (the recipient without account).

    Called by orders INSIDE its order-creation transaction: this joins it (a savepoint), so the
    identity and its ``anonymous_identity.issued`` audit row exist iff the order commits. The
    signature is returned once to be put in the recipient's link; it is never stored.
    """
    if role not in ANONYMOUS_ROLES:
        raise ValueError(f"unknown anonymous role {role!r}")
    country = (country_code or "").upper()
    if len(country) != 2:
        raise ValueError("country_code must be an ISO 3166-1 alpha-2 code")
    lifetime = ttl if ttl is not None else settings.ANON_IDENTITY_TTL
    with transaction.atomic():
        identity = AnonymousIdentity.objects.create(
            order_id=int(order_id),
            country_code=country,
            role=role,
            expires_at=timezone.now() + lifetime,
        )
        audit_services.record(
            "anonymous_identity.issued",
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
    *, actor: User | Actor, anon_id: uuid.UUID | str, reason: str = ""
) -> AnonymousIdentity:
    """Revoke an anonymous identity (its link stops working at once). Idempotent.

    ``actor``: a staff user (L2+, scoped to the identity's country: checked BEFORE the
    transaction so a refusal is audited) or a system `Actor` (e.g. orders on cancellation).
    Any other `Actor` (a staff or anonymous actor, e.g. one redeemed from a ws ticket) is
    refused with ``STAFF_LEVEL_REQUIRED``: it would skip the scope and level checks.
    Unknown ids answer ``NOT_FOUND``. Audit: ``anonymous_identity.revoked``.
    """
    if isinstance(actor, Actor) and not _is_system(actor):
        logger.warning("ANON_REVOKE_ACTOR_REFUSED", actorType=actor.type)
        raise StaffLevelRequired("Only staff L2+ (or the system) can revoke a recipient link.")
    try:
        key = uuid.UUID(str(anon_id))
    except ValueError:
        raise AnonymousIdentityNotFound() from None
    current = AnonymousIdentity.objects.filter(anon_id=key).values("country_code").first()
    if current is None:
        raise AnonymousIdentityNotFound()
    if isinstance(actor, Actor):
        audit_actor = actor
    else:
        ScopeGuard.check(
            actor,
            current["country_code"],
            action="anonymous_identity.revoke",
            target=f"anonymous_identity:{key}",
        )
        ScopeGuard.require_level(actor, "L2")
        audit_actor = actor_for(actor)
    with transaction.atomic():
        identity = AnonymousIdentity.objects.select_for_update().get(anon_id=key)
        if identity.revoked_at is not None:
            return identity
        identity.revoked_at = timezone.now()
        identity.save(update_fields=["revoked_at"])
        audit_services.record(
            "anonymous_identity.revoked",
            ("anonymous_identity", str(identity.anon_id)),
            actor=audit_actor,
            country_code=identity.country_code,
            data={"orderId": identity.order_id, "reason": reason[:200]},
        )
    return identity


# --- WebSocket tickets -------------------------------------------------------------------


def ws_ticket_issue(*, actor: User | AnonymousActor | Actor) -> str:
    """A single-use ticket (60 s) for the WebSocket handshake, stored in the shared cache so
    any ASGI process can redeem it. The cache key is a hash of the ticket."""
    who = actor_for(actor)
    ticket = secrets.token_urlsafe(32)
    payload = {
        "type": who.type,
        "id": who.id,
        "level": who.level,
        "country_code": who.country_code,
    }
    cache.set(WS_TICKET_KEY.format(fingerprint(ticket)), payload, WS_TICKET_TTL_SECONDS)
    return ticket


def ws_ticket_redeem(*, ticket: str) -> Actor:
    """Redeem a ticket once and return its actor; ``WS_TICKET_INVALID`` when unknown,
    expired or already used.

    Atomic single use: the winner is whoever's ``cache.delete`` removes the key (Redis DEL
    reports whether it deleted it; concurrent redeemers of one ticket get exactly one True).
    """
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 128:
        raise WsTicketInvalid()
    key = WS_TICKET_KEY.format(fingerprint(ticket))
    payload = cache.get(key)
    if not isinstance(payload, dict) or not cache.delete(key):
        raise WsTicketInvalid()
    return Actor(
        type=str(payload["type"]),
        id=str(payload["id"]),
        level=str(payload.get("level", "")),
        country_code=str(payload.get("country_code", "")),
    )


# --- staff -------------------------------------------------------------------------------


def _is_system(actor: Any) -> bool:
    return isinstance(actor, Actor) and actor.type == "system"


def _require_staff_manager(
    actor: User | Actor, country_code: str, *, action: str, target: str
) -> None:
    """Ops lead (or superuser, or the system) scoped to ``country_code``. Runs before the
    caller's transaction (scope refusals are audited)."""
    if _is_system(actor):
        return
    if isinstance(actor, Actor):
        raise StaffLevelRequired()
    ScopeGuard.check(actor, country_code, action=action, target=target)
    ScopeGuard.require_ops_lead(actor)


def staff_profile_set(
    *, actor: User | Actor, user: User, level: str, is_ops_lead: bool = False
) -> StaffProfile:
    """Create or change a staff member's profile (level, ops-lead flag). Idempotent.

    The user must be staff (``is_staff``) of a country in the actor's scope. Only a
    superuser (or the system) may grant or remove the ops-lead flag, and nobody changes their
    own profile. Audit: ``staff_profile.created`` / ``staff_profile.changed``.
    """
    if level not in STAFF_LEVEL_RANK:
        raise ValidationFailed(details={"level": ["One of L1, L2, L3."]})
    _require_staff_manager(
        actor, user.country_code, action="staff_profile.set", target=f"user:{user.pk}"
    )
    if not _is_system(actor):
        assert isinstance(actor, User)
        if actor.pk == user.pk and not actor.is_superuser:
            raise StaffLevelRequired("You cannot change your own staff profile.")
    if not user.is_staff:
        raise ValidationFailed(details={"user": ["Only staff users have a staff profile."]})
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().filter(user=user).first()
        before = (
            None if profile is None else {"level": profile.level, "isOpsLead": profile.is_ops_lead}
        )
        flag_changes = bool(is_ops_lead) != bool(profile.is_ops_lead if profile else False)
        if flag_changes and not (_is_system(actor) or getattr(actor, "is_superuser", False)):
            raise StaffLevelRequired("Only a superuser can grant or remove the ops-lead flag.")
        if profile is None:
            profile = StaffProfile.objects.create(user=user, level=level, is_ops_lead=is_ops_lead)
            action = "staff_profile.created"
        elif profile.level == level and profile.is_ops_lead == is_ops_lead:
            staff_groups.sync_membership(user, level=level, is_ops_lead=is_ops_lead)
            return profile
        else:
            profile.level = level
            profile.is_ops_lead = is_ops_lead
            profile.save(update_fields=["level", "is_ops_lead", "updated_at"])
            action = "staff_profile.changed"
        audit_services.record(
            action,
            ("user", str(user.pk)),
            actor=actor_for(actor),
            country_code=user.country_code,
            data={"before": before, "level": level, "isOpsLead": is_ops_lead},
        )
        staff_groups.sync_membership(user, level=level, is_ops_lead=is_ops_lead)
    return profile


def _staff_target(staff: StaffProfile) -> str:
    return f"user:{staff.user_id}"


def staff_scope_grant(
    *, actor: User | Actor, staff: StaffProfile, country_code: str
) -> StaffCountryScope:
    """Let ``staff`` operate in ``country_code`` (an active country in the actor's scope, for
    a staff member of the actor's countries). Idempotent. Audit: ``staff_scope.granted``."""
    country = _active_country(country_code)
    target = _staff_target(staff)
    _require_staff_manager(actor, country, action="staff_scope.grant", target=target)
    _require_staff_manager(
        actor, staff.user.country_code, action="staff_scope.grant", target=target
    )
    with transaction.atomic():
        scope, created = StaffCountryScope.objects.get_or_create(staff=staff, country_code=country)
        if created:
            audit_services.record(
                "staff_scope.granted",
                target,
                actor=actor_for(actor),
                country_code=country,
                data={"countryCode": country, "staffProfileId": staff.pk},
            )
    return scope


def staff_scope_revoke(*, actor: User | Actor, staff: StaffProfile, country_code: str) -> bool:
    """Remove one country from ``staff``. Idempotent (False when it was not there).
    Audit: ``staff_scope.revoked``."""
    country = (country_code or "").upper()
    target = _staff_target(staff)
    _require_staff_manager(actor, country, action="staff_scope.revoke", target=target)
    with transaction.atomic():
        deleted, _ = StaffCountryScope.objects.filter(staff=staff, country_code=country).delete()
        if deleted:
            audit_services.record(
                "staff_scope.revoked",
                target,
                actor=actor_for(actor),
                country_code=country,
                data={"countryCode": country, "staffProfileId": staff.pk},
            )
    return bool(deleted)


USER_AUDITED_FIELDS = ("email", "full_name", "country_code", "is_active", "is_staff", "is_seller")
SUPERUSER_ONLY_FIELDS = frozenset({"is_superuser", "groups", "user_permissions"})


def user_protection_reason(*, actor: User, stored: User) -> str | None:
    """Why ``actor`` (not a superuser) may not change ``stored`` (the user as in the database),
    or None. Superusers, ops leads and staff of the actor's level or above are protected; a
    staff profile counts even while ``is_staff`` is off (re-enabling it restores the level)."""
    if stored.is_superuser:
        return "superuser"
    profile = StaffProfile.objects.filter(user_id=stored.pk).first()
    if profile is None:
        return None
    if profile.is_ops_lead:
        return "ops_lead"
    actor_rank = STAFF_LEVEL_RANK.get(staff_level(actor) or "", 0)
    if STAFF_LEVEL_RANK[profile.level] >= actor_rank:
        return "staff_level"
    return None


def user_change_authorize(*, actor: User | Actor, user: User) -> None:
    """Refuse (403 ``PROTECTED_ACCOUNT``) unless ``actor`` may change the existing ``user``.

    Only a superuser (or the system) changes a superuser, an ops lead, or a staff member of
    the actor's own level or above (so nobody edits a peer, a superior or themselves into more
    power). The refusal is a security event: audited ``user.change_refused`` in its own
    transaction, so call this BEFORE opening a transaction (the admin calls it before its
    change view's transaction; `user_save_by_staff` calls it first thing).
    """
    if _is_system(actor) or user.pk is None:
        return
    if not isinstance(actor, User):
        raise StaffLevelRequired()
    if actor.is_superuser:
        return
    stored = User.objects.filter(pk=user.pk).first()
    if stored is None:
        return
    reason = user_protection_reason(actor=actor, stored=stored)
    if reason is None:
        return
    metrics.emit("METRIC_PROTECTED_ACCOUNT_REFUSED", labels={"reason": reason})
    with transaction.atomic():
        audit_services.record(
            "user.change_refused",
            ("user", str(stored.pk)),
            actor=actor_for(actor),
            country_code=stored.country_code,
            data={"reason": reason},
        )
    raise ProtectedAccount()


def user_save_by_staff(
    *, actor: User | Actor, user: User, changed_fields: Iterable[str], created: bool
) -> User:
    """Save a user edited in the staff console, with its audit event (field NAMES only,
    never values: no PII in the trail).

    The caller (the admin) already limited the form to the actor's countries; this checks
    again and refuses otherwise: the user (before and after the change) must be in the
    actor's countries; superusers, ops leads and staff of the actor's level or above are
    protected (`user_change_authorize`, ``PROTECTED_ACCOUNT``); staff flags need an ops lead;
    ``is_superuser``, groups and permissions need a superuser (group membership follows the
    staff profile, `staff_profile_set`). An email taken by another account (case-insensitive)
    is ``EMAIL_TAKEN``.

    Deactivating a user revokes their sessions. Changing the email also unlinks Google
    (``google_sub``) and revokes every session: the new address must prove itself again.
    """
    fields = sorted(set(changed_fields))
    stored = None if created or user.pk is None else User.objects.filter(pk=user.pk).first()
    if not _is_system(actor):
        assert isinstance(actor, User)
        countries = [user.country_code] + ([stored.country_code] if stored else [])
        if not all(ScopeGuard.allows(actor, code) for code in countries):
            raise StaffLevelRequired("Outside your countries.")
        if stored is not None:
            user_change_authorize(actor=actor, user=stored)
        if ({"is_staff", "is_superuser"} & set(fields)) and not is_ops_lead(actor):
            raise StaffLevelRequired("Only an ops lead changes staff flags.")
        if (SUPERUSER_ONLY_FIELDS & set(fields)) and not actor.is_superuser:
            raise StaffLevelRequired("Only a superuser changes superuser, groups or permissions.")
    email = User.objects.normalize_email(user.email).lower()
    email_changed = stored is not None and email != stored.email
    if (created or email_changed) and (
        User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists()
    ):
        raise EmailTaken()
    with transaction.atomic():
        user.email = email
        if email_changed:
            user.google_sub = None
        user.save()
        if not user.is_active:
            _revoke_all_sessions(user, reason="deactivated", actor=actor_for(actor))
        elif email_changed:
            _revoke_all_sessions(user, reason="email_changed", actor=actor_for(actor))
        audit_services.record(
            "user.created_by_staff" if created else "user.changed_by_staff",
            user,
            actor=actor_for(actor),
            data={
                "fields": fields,
                **({"googleUnlinked": bool(stored.google_sub)} if stored and email_changed else {}),
            },
        )
    return user
