"""Login throttling and lockout on the shared Django cache (Redis in full mode).

Three layers (all counters are atomic: ``cache.add`` = SET NX, ``cache.incr`` = INCR):

1. **Lockout per (account, IP)** -- ``AUTH_LOCKOUT_FAILURES`` (5) wrong passwords for one email
   from one IP within ``AUTH_LOCKOUT_WINDOW_SECONDS`` lock that pair: further attempts, even
   with the right password, answer 429 ``ACCOUNT_LOCKED`` + ``Retry-After``. Each new lockout
   of the same pair within a day doubles the duration (``AUTH_LOCKOUT_BASE_SECONDS`` 60 s, capped
   at ``AUTH_LOCKOUT_MAX_SECONDS``). Keyed by the (email, IP) pair, so an attacker elsewhere
   cannot lock a legitimate user out, and keyed by the email *string*, so a lockout happens the
   same way for emails that have no account (nothing reveals whether an account exists).
2. **Per-IP failures across accounts** -- ``AUTH_IP_FAILURE_LIMIT`` (20) failed logins from one IP
   within ``AUTH_IP_FAILURE_WINDOW_SECONDS`` block that IP for ``AUTH_IP_BLOCK_SECONDS``: 429
   ``RATE_LIMITED`` for every account (credential stuffing).
3. **Request rate per IP** on the auth endpoints -- `AuthIPRateThrottle`, a DRF throttle with a
   fixed-window atomic counter (DRF's own ``SimpleRateThrottle`` does read-modify-write on a
   list, which concurrent requests overrun).

Cache keys carry a SHA-256 of the email/IP, never the values (no PII in Redis key listings).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from aventide.accounts.errors import AccountLocked, LoginRateLimited

STRIKE_MEMORY_SECONDS = 86400


@dataclass(frozen=True)
class LoginLimits:
    lockout_failures: int
    lockout_window: int
    lockout_base: int
    lockout_max: int
    ip_failures: int
    ip_window: int
    ip_block: int


def limits() -> LoginLimits:
    return LoginLimits(
        lockout_failures=settings.AUTH_LOCKOUT_FAILURES,
        lockout_window=settings.AUTH_LOCKOUT_WINDOW_SECONDS,
        lockout_base=settings.AUTH_LOCKOUT_BASE_SECONDS,
        lockout_max=settings.AUTH_LOCKOUT_MAX_SECONDS,
        ip_failures=settings.AUTH_IP_FAILURE_LIMIT,
        ip_window=settings.AUTH_IP_FAILURE_WINDOW_SECONDS,
        ip_block=settings.AUTH_IP_BLOCK_SECONDS,
    )


def fingerprint(*parts: str) -> str:
    """A stable, non-reversible key part for an email/IP (no PII in cache keys or audit)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def incr_counter(key: str, ttl: int) -> int:
    """Atomically increment ``key``; the first increment starts its ``ttl`` window."""
    for _ in range(3):
        cache.add(key, 0, ttl)
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr: start a new window
            continue
    return 1


def _remaining(until: Any) -> int | None:
    if until is None:
        return None
    left = float(until) - time.time()
    return math.ceil(left) if left > 0 else None


@dataclass(frozen=True)
class FailureOutcome:
    locked: bool
    lock_seconds: int
    strike: int
    ip_blocked: bool


class LoginGuard:
    """The lockout state of one login attempt: ``email`` (normalized) from ``ip``."""

    def __init__(self, email: str, ip: str) -> None:
        self.ip = ip or "-"
        pair = fingerprint(email.strip().lower(), self.ip)
        self.pair_hash = pair
        self.ip_hash = fingerprint(self.ip)
        self.fail_key = f"auth:fail:{pair}"
        self.lock_key = f"auth:lock:{pair}"
        self.strike_key = f"auth:strike:{pair}"
        self.ip_fail_key = f"auth:ipfail:{self.ip_hash}"
        self.ip_block_key = f"auth:ipblock:{self.ip_hash}"

    @classmethod
    def for_ip(cls, ip: str) -> LoginGuard:
        return cls("", ip)

    def check_ip(self) -> None:
        wait = _remaining(cache.get(self.ip_block_key))
        if wait is not None:
            raise LoginRateLimited(retry_after=wait)

    def check(self) -> None:
        """Raise 429 when the IP is blocked or this (account, IP) pair is locked."""
        self.check_ip()
        wait = _remaining(cache.get(self.lock_key))
        if wait is not None:
            raise AccountLocked(retry_after=wait)

    def record_ip_failure(self) -> bool:
        lim = limits()
        if incr_counter(self.ip_fail_key, lim.ip_window) >= lim.ip_failures:
            cache.set(self.ip_block_key, time.time() + lim.ip_block, lim.ip_block)
            cache.delete(self.ip_fail_key)
            return True
        return False

    def record_failure(self) -> FailureOutcome:
        lim = limits()
        ip_blocked = self.record_ip_failure()
        failures = incr_counter(self.fail_key, lim.lockout_window)
        if failures < lim.lockout_failures:
            return FailureOutcome(locked=False, lock_seconds=0, strike=0, ip_blocked=ip_blocked)
        strike = incr_counter(self.strike_key, STRIKE_MEMORY_SECONDS)
        seconds = min(lim.lockout_base * 2 ** (strike - 1), lim.lockout_max)
        cache.set(self.lock_key, time.time() + seconds, seconds)
        cache.delete(self.fail_key)
        return FailureOutcome(
            locked=True, lock_seconds=seconds, strike=strike, ip_blocked=ip_blocked
        )

    def record_success(self) -> None:
        cache.delete_many([self.fail_key, self.strike_key])

    def clear(self) -> None:
        """Lift this pair's lockout and forget its failures (ops unlock)."""
        cache.delete_many([self.fail_key, self.strike_key, self.lock_key])

    def clear_ip(self) -> None:
        cache.delete_many([self.ip_fail_key, self.ip_block_key])


def client_ip(request: Any) -> str:
    """The client IP as DRF's throttles see it: REMOTE_ADDR, or the ``NUM_PROXIES``-th
    address from the right of X-Forwarded-For when behind that many trusted proxies."""
    return str(BaseThrottle().get_ident(request) or "-")


class AuthIPRateThrottle(BaseThrottle):
    """Per-IP request rate on the auth endpoints (``DEFAULT_THROTTLE_RATES["auth"]``)."""

    scope = "auth"

    def __init__(self) -> None:
        self._wait: float = 1.0

    def parse_rate(self) -> tuple[int, int] | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if not rate:
            return None
        num, period = str(rate).split("/")
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
        return int(num), seconds

    def allow_request(self, request: Any, view: Any) -> bool:
        parsed = self.parse_rate()
        if parsed is None:
            return True
        num, period = parsed
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{fingerprint(client_ip(request))}:{window}"
        if incr_counter(key, period + 1) <= num:
            return True
        self._wait = period - (now % period)
        return False

    def wait(self) -> float:
        return self._wait
