"""Resolve who is calling into a `Principal`, once per entry point.

- REST: ``authentication.py`` turns a verified access token (`principal_for_access_token`) or a
  signed anonymous identity (`principal_for_anonymous_id`) into ``request.user``.
- Admin: `principal_for_request` turns the session's staff ``User`` into a principal (cached on
  the request).
- WebSocket: the single-use ticket carries the principal (``services.ws_ticket_redeem``).
- Celery, beat, management commands: the one ``SYSTEM`` principal.

Short cache (``AUTH_PRINCIPAL_CACHE_SECONDS``, default 5 s)
  The state behind a token -- the user is active, the session (refresh family) is not revoked,
  the staff level and countries -- is kept per process for a few seconds, so an API request
  makes no database round trip to authenticate. Revoking a session, deactivating a user or
  changing a staff member's level or scopes drops the entries of that user in the process that
  made the change at once; other processes see it within the TTL. That is the documented bound:
  a revoked session stops working everywhere within ``AUTH_PRINCIPAL_CACHE_SECONDS``
  (docs/operations/auth.md). ``0`` disables the cache.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.http import HttpRequest
from django.utils import timezone

from aventide.accounts.errors import AnonIdentityExpired, AnonIdentityRevoked, AnonIdentityUnknown
from aventide.accounts.models import (
    AnonymousIdentity,
    RefreshFamily,
    StaffCountryScope,
    StaffProfile,
    User,
)
from aventide.core import rowsql
from aventide.core.logging import get_logger
from aventide.core.principal import Principal, PrincipalKind
from aventide.markets.policy import active_country_codes

_logger = get_logger("aventide.accounts")

_MAX_ENTRIES = 20_000


def _now() -> float:
    """The cache's clock (monotonic; tests replace it)."""
    return time.monotonic()


class _TTLCache:
    """A small thread-safe TTL map (per process). Values are immutable principals."""

    def __init__(self) -> None:
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def ttl() -> float:
        return float(getattr(settings, "AUTH_PRINCIPAL_CACHE_SECONDS", 5))

    def get(self, key: Any) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < _now():
            with self._lock:
                self._data.pop(key, None)
            return None
        return value

    def put(self, key: Any, value: Any) -> None:
        ttl = self.ttl()
        if ttl <= 0:
            return
        with self._lock:
            if len(self._data) >= _MAX_ENTRIES:
                # Drop the oldest insertions (dicts keep insertion order).
                for old in list(self._data)[: _MAX_ENTRIES // 10]:
                    del self._data[old]
            self._data[key] = (_now() + ttl, value)

    def drop_where(self, predicate: Any) -> None:
        with self._lock:
            for key in [k for k in self._data if predicate(k)]:
                del self._data[key]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_sessions = _TTLCache()  # (user_id, family_id) -> Principal
_anonymous = _TTLCache()  # anon_id -> Principal | DomainError class


def forget_user(user_id: int | None) -> None:
    """Drop this process's cached principals of a user (session revoked, user changed)."""
    if user_id is not None:
        _sessions.drop_where(lambda key: key[0] == user_id)


def forget_anonymous(anon_id: uuid.UUID | str) -> None:
    key = str(anon_id)
    _anonymous.drop_where(lambda k: k == key)


#: ``listener(key)`` after a change to what a principal says has committed; ``key`` is
#: ``user:<id>`` or ``anon:<uuid>``. Apps above accounts register at ``AppConfig.ready()``
#: (realtime re-authorizes that principal's open sockets at once).
PrincipalChangeListener = Callable[[str], None]
_change_listeners: list[PrincipalChangeListener] = []


def on_principal_change(listener: PrincipalChangeListener) -> None:
    """Call ``listener(key)`` after every committed change of a principal (session revoked,
    user deactivated, staff level or scope changed, anonymous identity revoked)."""
    if listener not in _change_listeners:
        _change_listeners.append(listener)


def _changed(key: str) -> None:
    for listener in list(_change_listeners):
        try:
            listener(key)
        except Exception:  # a listener never breaks the change that already committed
            _logger.exception("PRINCIPAL_CHANGE_LISTENER_FAILED", listener=listener.__qualname__)


def forget_user_on_change(user_id: int) -> None:
    """For a service changing what a user's principal says (session revoked, deactivated,
    level or scope changed): drop it in this process now -- so this process sees the change
    at once -- and again after commit (a request racing the change's transaction may have
    cached the old state meanwhile), then tell the change listeners. Other processes' caches
    see it within the TTL."""
    forget_user(user_id)

    def committed() -> None:
        forget_user(user_id)
        _changed(f"user:{int(user_id)}")

    transaction.on_commit(committed, robust=True)


def forget_anonymous_on_change(anon_id: uuid.UUID) -> None:
    forget_anonymous(anon_id)

    def committed() -> None:
        forget_anonymous(anon_id)
        _changed(f"anon:{uuid.UUID(str(anon_id))}")

    transaction.on_commit(committed, robust=True)


def clear_caches() -> None:
    """Tests and ``flush``: forget every cached principal of this process."""
    _sessions.clear()
    _anonymous.clear()


def _staff_countries(user: User) -> frozenset[str]:
    if user.is_superuser:
        return active_country_codes()
    return frozenset(
        StaffCountryScope.objects.filter(staff__user_id=user.pk).values_list(
            "country_code", flat=True
        )
    )


def principal_for_user(user: User) -> Principal:
    """The principal of a registered user (staff: with level, flags and countries).

    One query for staff (their countries; the profile comes along when the caller used
    ``select_related("staff_profile")``), none for parties.
    """
    if not user.is_staff:
        return _party(user.pk, user.country_code, user.is_seller, user.email, user.full_name)
    try:
        profile: StaffProfile | None = user.staff_profile
    except StaffProfile.DoesNotExist:
        profile = None
    return Principal(
        kind=PrincipalKind.STAFF,
        id=str(user.pk),
        country_code=user.country_code,
        level=profile.level if profile is not None else "",
        is_seller=user.is_seller,
        is_superuser=user.is_superuser,
        is_ops_lead=user.is_superuser or bool(profile is not None and profile.is_ops_lead),
        countries=_staff_countries(user),
        email=user.email,
        full_name=user.full_name,
    )


def _party(pk: int, country_code: str, is_seller: bool, email: str, full_name: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        id=str(pk),
        country_code=country_code,
        is_seller=bool(is_seller),
        email=email,
        full_name=full_name,
    )


_PARTY_SESSION_SQL: dict[str, str] = {}


def _party_session(pk: int, family_id: str) -> tuple[int, str, bool, str, str] | None:
    """(id, country, is_seller, email, full name) of the active non-staff user ``pk`` whose
    session ``family_id`` is not revoked; None otherwise (no such user or session, or staff:
    their principal needs the profile and scopes, read by the ORM). One statement built once
    per database vendor -- the ORM's compilation of the same join was the largest cost of a
    cache miss (~15% of a server's CPU in the soak, where 500 users' principals expire).
    Names come from the models' metadata; every value is a parameter."""
    sql = _PARTY_SESSION_SQL.get(connection.vendor)
    if sql is None:
        qn = connection.ops.quote_name
        u, f = User._meta, RefreshFamily._meta
        names = ("country_code", "is_seller", "email", "full_name", "is_active", "is_staff")
        col = {name: qn(cast(Field[Any, Any], u.get_field(name)).column) for name in names}
        fcol = {
            name: qn(cast(Field[Any, Any], f.get_field(name)).column)
            for name in ("user", "revoked_at")
        }
        sql = _PARTY_SESSION_SQL[connection.vendor] = (
            f"SELECT u.{qn(u.pk.column)}, u.{col['country_code']}, u.{col['is_seller']},"  # noqa: S608
            f" u.{col['email']}, u.{col['full_name']} FROM {qn(u.db_table)} u"
            f" WHERE u.{qn(u.pk.column)} = %s AND u.{col['is_active']} = %s"
            f" AND u.{col['is_staff']} = %s AND EXISTS (SELECT 1 FROM {qn(f.db_table)} f"
            f" WHERE f.{qn(f.pk.column)} = %s AND f.{fcol['user']} = u.{qn(u.pk.column)}"
            f" AND f.{fcol['revoked_at']} IS NULL)"
        )
    family = RefreshFamily._meta.pk.get_db_prep_value(uuid.UUID(family_id), connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk, True, False, family])
        row = cursor.fetchone()
    if row is None:
        return None
    return int(row[0]), str(row[1]), bool(row[2]), str(row[3]), str(row[4])


def principal_for_access_token(*, user_id: str, family_id: str) -> Principal | None:
    """The principal behind a verified access token whose user is active and whose session is
    not revoked; None otherwise. Cached (see the module docstring)."""
    try:
        pk = int(user_id)
        fam = str(uuid.UUID(family_id))
    except (TypeError, ValueError):
        return None
    key = (pk, fam)
    cached: Principal | None = _sessions.get(key)
    if cached is not None:
        return cached
    row = _party_session(pk, fam)
    if row is not None:  # a party (not staff) with a live session: no model, no ORM compile
        principal = _party(*row)
        _sessions.put(key, principal)
        return principal
    user = (
        User.objects.select_related("staff_profile")
        .filter(
            pk=pk,
            is_active=True,
            refresh_families__id=fam,
            refresh_families__revoked_at__isnull=True,
        )
        .first()
    )
    if user is None:
        return None
    principal = principal_for_user(user)
    _sessions.put(key, principal)
    return principal


def principal_for_session_fresh(*, user_id: int, family_id: str) -> Principal | None:
    """Like `principal_for_access_token`, read from the database now (no cache): for the
    WebSocket, where one stale "still logged in" would let a socket live on. One plain
    statement for parties (``_party_session``); staff: that one, then the ORM's (profile and
    countries)."""
    try:
        fam = str(uuid.UUID(str(family_id)))
    except ValueError:
        return None
    row = _party_session(int(user_id), fam)
    if row is not None:  # a party: one plain statement (sockets re-check on every heartbeat)
        return _party(*row)
    user = (
        User.objects.select_related("staff_profile")
        .filter(
            pk=int(user_id),
            is_active=True,
            refresh_families__id=fam,
            refresh_families__revoked_at__isnull=True,
        )
        .first()
    )
    return principal_for_user(user) if user is not None else None


def principal_for_identity(identity: AnonymousIdentity) -> Principal:
    return Principal(
        kind=PrincipalKind.ANONYMOUS,
        id=str(identity.anon_id),
        country_code=identity.country_code,
        order_id=identity.order_id,
        role=identity.role,
    )


def principal_for_anonymous_id(anon_id: uuid.UUID) -> Principal:
    """The principal of a usable anonymous identity (signature already verified).

    Raises ``ANON_SIGNATURE_INVALID`` (unknown id), ``ANON_IDENTITY_REVOKED`` or
    ``ANON_IDENTITY_EXPIRED``. Cached like sessions; the expiry is re-checked on every call.
    """
    key = str(anon_id)
    cached = _anonymous.get(key)
    if cached is None:
        identity = rowsql.read_row(AnonymousIdentity, anon_id=anon_id)
        if identity is None:
            raise AnonIdentityUnknown()
        if identity.revoked_at is not None:
            raise AnonIdentityRevoked()
        cached = (identity.expires_at, principal_for_identity(identity))
        _anonymous.put(key, cached)
    expires_at, principal = cached
    if expires_at <= timezone.now():
        raise AnonIdentityExpired()
    assert isinstance(principal, Principal)
    return principal


_REQUEST_ATTR = "_aventide_principal"


def principal_for_request(request: HttpRequest, *, user: object = None) -> Principal | None:
    """The principal of a Django request: an API request's ``request.user`` already is one;
    a session (admin) request's active user (``request.user``, or ``user`` when the caller
    already awaited it) is resolved once and kept on the request."""
    if user is None:
        user = getattr(request, "user", None)
    if isinstance(user, Principal):
        return user
    cached: Principal | None = getattr(request, _REQUEST_ATTR, None)
    if cached is not None:
        return cached
    if not isinstance(user, User) or not user.is_active:
        return None
    principal = principal_for_user(user)
    setattr(request, _REQUEST_ATTR, principal)
    return principal
