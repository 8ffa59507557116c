"""Login throttling and lockout on the shared Django cache (Redis in full mode).

Four layers (all counters are atomic: ``cache.add`` = SET NX, ``cache.incr`` = INCR):

1. **Lockout per (account, IP)** -- ``AUTH_LOCKOUT_FAILURES`` (5) wrong passwords for one account
   from one IP within ``AUTH_LOCKOUT_WINDOW_SECONDS`` lock that pair: further attempts, even
   with the right password, answer 429 ``ACCOUNT_LOCKED`` + ``Retry-After``. Each new lockout
   of the same pair within a day doubles the duration (``AUTH_LOCKOUT_BASE_SECONDS`` 60 s, capped
   at ``AUTH_LOCKOUT_MAX_SECONDS``). Keyed by the (account, IP) pair, so an attacker elsewhere
   cannot lock a legitimate user out.
2. **Account-wide failures across IPs** -- once an account collected
   ``AUTH_ACCOUNT_FAILURE_LIMIT`` (20) failures from any IPs within
   ``AUTH_ACCOUNT_FAILURE_WINDOW_SECONDS`` (1 h) it is *under attack*: every IP then gets only
   ``AUTH_ATTACK_LOCKOUT_FAILURES`` (1) failure before its (account, IP) pair locks, instead of
   5. The account itself is never locked: an IP that has not failed still logs in with the
   right password (no malicious lockout). Entering the mode writes ``auth.account_under_attack``.
3. **Per-IP failures across accounts** -- ``AUTH_IP_FAILURE_LIMIT`` (20) failed logins from one IP
   within ``AUTH_IP_FAILURE_WINDOW_SECONDS`` block that IP for ``AUTH_IP_BLOCK_SECONDS``: 429
   ``RATE_LIMITED`` for every account (credential stuffing).
4. **Request rate per IP** on the auth endpoints -- `AuthIPRateThrottle`, a DRF throttle with a
   fixed-window atomic counter (DRF's own ``SimpleRateThrottle`` does read-modify-write on a
   list, which concurrent requests overrun).

Every other DRF view has the default `APIRateThrottle` (same counter): ``THROTTLE_USER`` per
registered user or anonymous identity (`throttle_caller`), ``THROTTLE_ANON`` per client IP.
The client IP is ``REMOTE_ADDR`` (`client_ip`): the server resolves it from
``TRUSTED_PROXIES``.

"The account" is a *login subject* (`LoginSubject`, resolved by the services): the user id when
the email resolves to an account, else the folded email string (NFKC + case folding), so an
unknown email locks exactly like a real one and case/Unicode variants of one email ("super@"
spelled with U+017F long s) share one counter. "The IP" is an IPv4 address, or the /64 network of an
IPv6 address (``AUTH_IPV6_PREFIX_LENGTH``): one host owns a whole /64, so counting single
IPv6 addresses would give it 2^64 fresh allowances.

Cache keys carry a SHA-256 of the subject/IP, never the values (no PII in Redis key listings).
Settings not defined in ``aventide/settings.py`` fall back to the defaults in `limits`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from aventide.accounts.errors import AccountLocked, LoginRateLimited, ThrottleUnavailable
from aventide.core.metrics import emit
from aventide.core.principal import Principal

STRIKE_MEMORY_SECONDS = 86400
#: Connections of the throttles' shared Redis client per process: a request holds one for one
#: round trip; beyond this many at once, requests wait (up to 5 s) for a free one.
REDIS_MAX_CONNECTIONS = 32


@dataclass(frozen=True)
class LoginLimits:
    lockout_failures: int
    lockout_window: int
    lockout_base: int
    lockout_max: int
    ip_failures: int
    ip_window: int
    ip_block: int
    account_failures: int
    account_window: int
    attack_lockout_failures: int
    ipv6_prefix: int


def limits() -> LoginLimits:
    return LoginLimits(
        lockout_failures=settings.AUTH_LOCKOUT_FAILURES,
        lockout_window=settings.AUTH_LOCKOUT_WINDOW_SECONDS,
        lockout_base=settings.AUTH_LOCKOUT_BASE_SECONDS,
        lockout_max=settings.AUTH_LOCKOUT_MAX_SECONDS,
        ip_failures=settings.AUTH_IP_FAILURE_LIMIT,
        ip_window=settings.AUTH_IP_FAILURE_WINDOW_SECONDS,
        ip_block=settings.AUTH_IP_BLOCK_SECONDS,
        account_failures=settings.AUTH_ACCOUNT_FAILURE_LIMIT,
        account_window=settings.AUTH_ACCOUNT_FAILURE_WINDOW_SECONDS,
        attack_lockout_failures=max(1, settings.AUTH_ATTACK_LOCKOUT_FAILURES),
        ipv6_prefix=settings.AUTH_IPV6_PREFIX_LENGTH,
    )


def fingerprint(*parts: str) -> str:
    """A stable, non-reversible key part for an email/IP (no PII in cache keys or audit)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def fold_login(email: str) -> str:
    """The email as a lockout key: NFKC, then case-folded so that every string the database's
    case-insensitive match could treat as equal lands on one key (U+017F long s,
    U+212A Kelvin sign, U+0131 dotless i fold to ``s``, ``k``, ``i``)."""
    text = unicodedata.normalize("NFKC", (email or "").strip())
    return unicodedata.normalize("NFKC", text.upper().lower().casefold())


def ip_key(ip: str, prefix: int | None = None) -> str:
    """The unit an IP is counted by: an IPv4 address as is (IPv4-mapped IPv6 too), an IPv6
    address by its /64 network (``AUTH_IPV6_PREFIX_LENGTH``). Unparsable values as given."""
    raw = (ip or "").strip()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "-"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        length = limits().ipv6_prefix if prefix is None else prefix
        return str(ipaddress.IPv6Network((int(address), length), strict=False))
    return str(address)


_redis_lock = threading.Lock()
_redis_clients: dict[str, Any] = {}


def _shared_redis() -> tuple[Any, Any] | None:
    """(the default cache backend, a Redis client shared by the whole process) when the cache
    is Redis, else None.

    Django's Redis cache keeps a connection pool per backend *instance*, and ``caches`` gives
    each request context its own instance -- so a client taken from it would pin one pool per
    request. Here one client (one bounded pool) per cache location serves every thread; and it
    is built once, where Django's cache builds a new ``redis.Redis`` (and its 100-entry
    response-callback table) per call: measured at a fifth of an API request's CPU when the
    throttle asked for it twice per request."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    location = str(backend._servers[0])  # type: ignore[attr-defined]  # Django's parsed LOCATION
    client = _redis_clients.get(location)
    if client is None:
        with _redis_lock:
            client = _redis_clients.get(location)
            if client is None:
                pool = redis.BlockingConnectionPool.from_url(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    location, max_connections=REDIS_MAX_CONNECTIONS, timeout=5
                )
                client = redis.Redis(connection_pool=pool)
                _redis_clients[location] = client
    return backend, client


_INCR_LUA = """
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return c
"""
_incr_scripts: dict[int, Any] = {}


def _incr_script(client: Any) -> Any:
    """``_INCR_LUA`` registered on ``client`` (EVALSHA, loaded again after a Redis restart)."""
    script = _incr_scripts.get(id(client))
    if script is None:
        with _redis_lock:
            script = _incr_scripts.setdefault(id(client), client.register_script(_INCR_LUA))
    return script


def incr_counter(key: str, ttl: int) -> int:
    """Atomically increment ``key``; the first increment starts its ``ttl`` window.

    On Redis: one round trip, one command -- a Lua script that increments and, on the first
    increment, sets the expiry, atomically, so the counter can never lose its expiry (a
    ``MULTI``/``SET NX EX``/``INCR``/``EXEC`` pipeline said the same in four commands, at
    0.8% more of a chat send's instructions: decision 0023). Elsewhere (the in-process
    cache of the embedded mode and tests): the cache API's add + incr."""
    shared = _shared_redis()
    if shared is not None:
        backend, client = shared
        full_key = backend.make_and_validate_key(key)
        return int(_incr_script(client)(keys=[full_key], args=[max(int(ttl), 1)]))
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
    #: True only for the failure that put the account under attack (once per window).
    account_under_attack: bool = False


class LoginGuard:
    """The lockout state of one login attempt: ``subject`` from ``ip``.

    ``subject`` is the login subject key, ``"user:<id>"`` or ``"email:<folded email>"``, built
    by ``services.login_guard`` (use that, not this constructor, from other code). ``ip`` is
    counted by `ip_key`."""

    def __init__(self, subject: str, ip: str, *, user_id: int | None = None) -> None:
        self.subject = subject
        self.user_id = user_id  # the account the subject resolved to (None: no account)
        self.ip = ip_key(ip or "-")
        pair = fingerprint(self.subject, self.ip)
        account = fingerprint(self.subject)
        self.pair_hash = pair
        self.ip_hash = fingerprint(self.ip)
        self.fail_key = f"auth:fail:{pair}"
        self.lock_key = f"auth:lock:{pair}"
        self.strike_key = f"auth:strike:{pair}"
        self.account_fail_key = f"auth:acctfail:{account}"
        self.account_attack_key = f"auth:acctattack:{account}"
        self.ip_fail_key = f"auth:ipfail:{self.ip_hash}"
        self.ip_block_key = f"auth:ipblock:{self.ip_hash}"

    @classmethod
    def for_ip(cls, ip: str) -> LoginGuard:
        return cls("email:", ip)

    def check_ip(self) -> None:
        wait = _remaining(cache.get(self.ip_block_key))
        if wait is not None:
            raise LoginRateLimited(retry_after=wait)

    def check(self) -> None:
        """Raise 429 when the IP is blocked or this (account, IP) pair is locked.

        Never refuses because of failures from OTHER IPs: the account-wide counter only
        tightens how many failures each IP gets (no malicious lockout)."""
        self.check_ip()
        wait = _remaining(cache.get(self.lock_key))
        if wait is not None:
            raise AccountLocked(retry_after=wait)

    def under_attack(self) -> bool:
        """True while the account is in the tightened mode (see the module docstring)."""
        return cache.get(self.account_attack_key) is not None

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
        account_failures = incr_counter(self.account_fail_key, lim.account_window)
        newly_under_attack = False
        under_attack = account_failures >= lim.account_failures
        if under_attack:
            newly_under_attack = bool(cache.add(self.account_attack_key, 1, lim.account_window))
        else:
            under_attack = self.under_attack()
        allowance = lim.attack_lockout_failures if under_attack else lim.lockout_failures
        failures = incr_counter(self.fail_key, lim.lockout_window)
        if failures < allowance:
            return FailureOutcome(
                locked=False,
                lock_seconds=0,
                strike=0,
                ip_blocked=ip_blocked,
                account_under_attack=newly_under_attack,
            )
        strike = incr_counter(self.strike_key, STRIKE_MEMORY_SECONDS)
        seconds = min(lim.lockout_base * 2 ** (strike - 1), lim.lockout_max)
        cache.set(self.lock_key, time.time() + seconds, seconds)
        cache.delete(self.fail_key)
        return FailureOutcome(
            locked=True,
            lock_seconds=seconds,
            strike=strike,
            ip_blocked=ip_blocked,
            account_under_attack=newly_under_attack,
        )

    def record_success(self) -> None:
        """Forget this pair's failures. The account-wide counter is kept: the legitimate
        user's success must not hand an ongoing attack a fresh allowance on every IP."""
        cache.delete_many([self.fail_key, self.strike_key])

    def clear(self) -> None:
        """Lift this pair's lockout and forget its failures (ops unlock)."""
        cache.delete_many([self.fail_key, self.strike_key, self.lock_key])

    def clear_account(self) -> None:
        """End the account's under-attack mode and forget its account-wide failures."""
        cache.delete_many([self.account_fail_key, self.account_attack_key])

    def clear_ip(self) -> None:
        cache.delete_many([self.ip_fail_key, self.ip_block_key])


def client_ip(request: Any) -> str:
    """The client IP: ``REMOTE_ADDR``.

    The one trusted-proxy setting is ``TRUSTED_PROXIES``, applied by the server
    (``aventide.server``: uvicorn takes the client from X-Forwarded-For only when the peer is
    a trusted proxy and rewrites the address Django sees). The app never reads the
    client-controlled header itself (docs/decisions/0006-trusted-proxies.md)."""
    meta = getattr(request, "META", None) or {}
    return str(meta.get("REMOTE_ADDR") or "-")


def throttle_caller(request: Any) -> str | None:
    """Who the caller is for the API throttles: ``"user:<id>"`` for a registered person
    (party or staff), ``"anon:<anon_id>"`` for an anonymous recipient identity, None for an
    unauthenticated caller (throttled by client IP)."""
    principal = getattr(request, "user", None)
    if not isinstance(principal, Principal):
        return None
    if principal.is_anonymous_identity:
        return f"anon:{principal.id}"
    if principal.is_registered:
        return f"user:{principal.id}"
    return None


def parse_rate(rate: object) -> tuple[int, int] | None:
    """``"120/min"`` -> (120, 60); None for no rate (throttle off)."""
    if not rate:
        return None
    num, period = str(rate).split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(num), seconds


class FixedWindowRateThrottle(BaseThrottle):
    """A DRF throttle counting requests per fixed window on the shared cache (Redis in full
    mode, so every process agrees) with one atomic increment per request (`incr_counter`).

    DRF's own ``SimpleRateThrottle`` reads a list of timestamps, appends and writes it back,
    which concurrent requests overrun. Subclasses say which rate (``scope_for``) and whom
    (``ident_for``) a request counts against."""

    scope = ""
    #: when the shared store cannot be reached: let the request through (counted), or refuse
    #: it with 503 ``SERVICE_UNAVAILABLE`` (``ThrottleUnavailable``, the auth endpoints)
    fail_open = True

    def __init__(self) -> None:
        self._wait: float = 1.0

    def scope_for(self, request: Any) -> str:
        return self.scope

    def ident_for(self, request: Any) -> str:
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        scope = self.scope_for(request)
        parsed = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))
        if parsed is None:
            return True
        num, period = parsed
        now = time.time()
        window = int(now // period)
        key = f"throttle:{scope}:{fingerprint(self.ident_for(request))}:{window}"
        try:
            count = incr_counter(key, period + 1)
        except redis.RedisError as exc:
            # Redis down or restarting (the chaos drill 3): a rate limit is not worth a
            # 500 on every request. The API lets it through; the auth endpoints refuse.
            emit(
                "METRIC_THROTTLE_UNAVAILABLE",
                labels={"scope": scope, "error": type(exc).__name__},
                failOpen=self.fail_open,
            )
            if self.fail_open:
                return True
            raise ThrottleUnavailable(headers={"Retry-After": "1"}) from None
        if count <= num:
            return True
        self._wait = period - (now % period)
        return False

    def wait(self) -> float:
        return self._wait


class AuthIPRateThrottle(FixedWindowRateThrottle):
    """Per-IP request rate on the auth endpoints (``DEFAULT_THROTTLE_RATES["auth"]``)."""

    scope = "auth"
    fail_open = False  # login unthrottled is a brute-force window: refuse with 503 instead

    def ident_for(self, request: Any) -> str:
        return ip_key(client_ip(request))


class APIRateThrottle(FixedWindowRateThrottle):
    """The default API throttle (``DEFAULT_THROTTLE_CLASSES``): ``THROTTLE_USER`` per
    identified caller (`throttle_caller`), ``THROTTLE_ANON`` per client IP for everyone else.
    Runs after authentication, so ``request.user`` is resolved."""

    def scope_for(self, request: Any) -> str:
        return "anon" if throttle_caller(request) is None else "user"

    def ident_for(self, request: Any) -> str:
        return throttle_caller(request) or f"ip:{ip_key(client_ip(request))}"
