"""Who may subscribe to which stream: the built-in kinds and the registry apps fill.

``authorize(principal, stream)`` returns, or raises ``ForbiddenStream`` (a kind this identity
may never use) or ``NotRoomMember`` (a kind it may use, not a member of this one). A stream
that does not exist answers like one the principal is not a member of (ids leak nothing).

- ``user:<id>``: that registered user (party or staff). Anonymous: FORBIDDEN_STREAM;
  another user: NOT_ROOM_MEMBER.
- ``anon:<uuid>``: that anonymous identity, re-checked not revoked/expired. Registered:
  FORBIDDEN_STREAM; another identity (or a revoked one): NOT_ROOM_MEMBER.
- ``staff:<CC>``: staff whose scope includes CC (ScopeGuard). Parties, anonymous:
  FORBIDDEN_STREAM; staff of other countries: NOT_ROOM_MEMBER.
- ``order:<id>``: the orders app's authorizer (``aventide/orders/stream_authz.py``).
- ``conversation:<id>``: the messaging app's authorizer once it registers one; until then
  FORBIDDEN_STREAM for everyone (an unregistered kind is a kind nobody may use).

Sync (an authorizer may query): the consumer calls it through ``database_sync_to_async``.
"""

from __future__ import annotations

from aventide.accounts import selectors as accounts_selectors
from aventide.accounts.contracts import ScopeGuard
from aventide.core import metrics
from aventide.core.principal import Principal
from realtime.contracts import Stream, stream_authorizer
from realtime.errors import DomainError, ForbiddenStream, NotRoomMember

METRIC_AUTHZ_DENIED = "METRIC_REALTIME_AUTHZ_DENIED"


def _user_stream(principal: Principal, stream: Stream) -> None:
    if not principal.is_registered:
        raise ForbiddenStream()
    if principal.user_id != int(stream.key):
        raise NotRoomMember()


def _anon_stream(principal: Principal, stream: Stream) -> None:
    if not principal.is_anonymous_identity:
        raise ForbiddenStream()
    if principal.id != stream.key:
        raise NotRoomMember()
    # Re-checked at every subscribe: a revoked or expired identity is no longer a member.
    if accounts_selectors.anonymous_principal_get(anon_id=stream.key) is None:
        raise NotRoomMember()


def _staff_stream(principal: Principal, stream: Stream) -> None:
    if not principal.is_staff:
        raise ForbiddenStream()
    if not ScopeGuard.allows(principal, stream.key):
        raise NotRoomMember()


_BUILTIN = {"user": _user_stream, "anon": _anon_stream, "staff": _staff_stream}


def authorize(principal: Principal, stream: Stream) -> None:
    """Allow (return) or refuse (``ForbiddenStream`` / ``NotRoomMember``) ``principal`` on
    ``stream``. The system principal never subscribes."""
    if not (principal.is_registered or principal.is_anonymous_identity):
        raise ForbiddenStream()
    builtin = _BUILTIN.get(stream.kind)
    if builtin is not None:
        builtin(principal, stream)
        return
    authorizer = stream_authorizer(stream.kind)
    if authorizer is None:  # no app authorizes this kind (yet): nobody may use it
        raise ForbiddenStream()
    authorizer(principal, stream)


def check(principal: Principal, stream: Stream) -> DomainError | None:
    """`authorize` as a value: None when allowed, else the refusal (an authorizer raising
    anything but the two refusals is a bug and propagates)."""
    try:
        authorize(principal, stream)
    except (ForbiddenStream, NotRoomMember) as refusal:
        return refusal
    return None


def count_denied(reason: str, stream: Stream, *, on: str) -> None:
    """``METRIC_REALTIME_AUTHZ_DENIED{reason}`` (``on``: ``subscribe`` or ``recheck``). The
    log line names the stream kind, never an identity's uuid."""
    metrics.emit(METRIC_AUTHZ_DENIED, labels={"reason": reason}, streamKind=stream.kind, on=on)
