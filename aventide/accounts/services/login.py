"""Password logins with lockout per (account, IP), per-IP blocking, and the ops unlock."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import Q
from django.http import HttpRequest

from audit import services as audit
from aventide.accounts.audit_actions import AuthAction
from aventide.accounts.errors import InvalidCredentials
from aventide.accounts.models import User
from aventide.accounts.services.sessions import TokenPair, session_start
from aventide.accounts.throttling import LoginGuard, fingerprint, fold_login, limits
from aventide.accounts.usecase import use_case
from aventide.core import metrics
from aventide.core.errors import RateLimited
from aventide.core.principal import SYSTEM, Principal


def login_failed_metric(method: str, reason: str) -> None:
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
        login_failed_metric(method, exc.code)
        raise
    return guard


def login_attempt_failed(*, guard: LoginGuard, email: str = "", method: str = "password") -> None:
    """Count a failed login; a resulting lockout, IP block or the account entering the
    under-attack mode writes its audit event."""
    outcome = guard.record_failure()
    login_failed_metric(method, "INVALID_CREDENTIALS")
    if outcome.locked or outcome.ip_blocked or outcome.account_under_attack:
        audit_lockout(
            guard,
            seconds=outcome.lock_seconds,
            ip_blocked=outcome.ip_blocked,
            under_attack=outcome.account_under_attack,
        )


def login_lockout_clear(
    *,
    actor: Principal,
    email: str,
    ip: str,
    whole_ip: bool = False,
    whole_account: bool = False,
    operator: str = "",
) -> None:
    """Ops unlock: lift the lockout of (account, IP) -- with ``whole_ip`` also the IP block,
    with ``whole_account`` also the account's under-attack mode (its failures from every IP).
    Audit: ``auth.lockout_cleared`` (hashes only, never the email or IP; ``operator`` names
    the person who ran the command)."""
    guard = login_guard(email=email, ip=ip)
    guard.clear()
    if whole_ip:
        guard.clear_ip()
    if whole_account:
        guard.clear_account()
    user = User.objects.filter(pk=guard.user_id).first() if guard.user_id else None
    with use_case(actor):
        audit.record(
            AuthAction.LOCKOUT_CLEARED,
            user if user is not None else ("login", fingerprint(guard.subject)),
            country_code=user.country_code if user else "",
            data={
                "ipHash": guard.ip_hash,
                "wholeIp": whole_ip,
                "wholeAccount": whole_account,
                **({"operator": operator[:40]} if operator else {}),
            },
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


def audit_lockout(
    guard: LoginGuard, *, seconds: int, ip_blocked: bool, under_attack: bool = False
) -> None:
    """The audit rows of a lockout, an IP block or an account entering the under-attack mode
    (attributed to the system: it decided, from counters)."""
    user = User.objects.filter(pk=guard.user_id).first() if guard.user_id else None
    target: Any = user if user is not None else ("login", fingerprint(guard.subject))
    country = user.country_code if user else ""
    if under_attack:
        metrics.emit("METRIC_AUTH_ACCOUNT_UNDER_ATTACK")
    with use_case(SYSTEM):
        if under_attack:
            lim = limits()
            audit.record(
                AuthAction.ACCOUNT_UNDER_ATTACK,
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
            audit.record(
                AuthAction.LOCKOUT,
                target,
                country_code=country,
                data={"lockSeconds": seconds, "ipHash": guard.ip_hash},
            )
        if ip_blocked:
            audit.record(
                AuthAction.IP_BLOCKED,
                ("ip", guard.ip_hash),
                country_code="",
                data={"blockSeconds": settings.AUTH_IP_BLOCK_SECONDS},
            )
