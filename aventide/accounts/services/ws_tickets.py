"""Single-use tickets for the WebSocket handshake (``POST /api/auth/ws-token``).

A ticket names who asked for it *and* the login session it was asked from: a registered
caller's ticket carries its session (refresh family); an anonymous recipient's its identity.
Redeeming re-reads both from the database (not from the principal cache): a logout, a
deactivation or a revoked identity inside the ticket's 60 s window keeps the socket out, and
the socket gets the principal as it is now (current level and scopes), not as it was when
the ticket was issued.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from django.core.cache import cache

from aventide.accounts.errors import WsTicketInvalid
from aventide.accounts.selectors import ws_principal_current
from aventide.accounts.throttling import fingerprint
from aventide.core.principal import Principal

WS_TICKET_TTL_SECONDS = 60
WS_TICKET_KEY = "auth:ws-ticket:{}"


@dataclass(frozen=True, slots=True)
class WsGrant:
    """What a redeemed ticket lets a socket be: the principal, re-read now, and the session
    it came from (a refresh family id; "" for an anonymous identity). The socket keeps both
    to re-check them later (``selectors.ws_principal_current``)."""

    principal: Principal
    session_id: str


def ws_ticket_issue(*, actor: Principal, session_id: str | uuid.UUID | None = None) -> str:
    """A single-use ticket (``WS_TICKET_TTL_SECONDS``) for the WebSocket handshake, stored in
    the shared cache so any ASGI process can redeem it. The cache key is a hash of the ticket;
    the value is the caller's principal and, for a registered caller, its login session
    (required: a person's socket lives only as long as the session it came from)."""
    if actor.is_registered:
        if session_id is None:
            raise ValueError("a registered principal's ws ticket needs its session (family id)")
        session = str(uuid.UUID(str(session_id)))
    elif actor.is_anonymous_identity:
        session = ""
    else:
        raise ValueError("only people (parties, staff, anonymous recipients) get ws tickets")
    ticket = secrets.token_urlsafe(32)
    cache.set(
        WS_TICKET_KEY.format(fingerprint(ticket)),
        {"principal": actor.to_payload(), "session": session},
        WS_TICKET_TTL_SECONDS,
    )
    return ticket


def ws_ticket_redeem_grant(*, ticket: str) -> WsGrant:
    """Redeem a ticket once; ``WS_TICKET_INVALID`` when unknown, expired, already used, or
    when its user/session/identity can no longer act (logged out, deactivated, revoked).

    Atomic single use: the winner is whoever's ``cache.delete`` removes the key (Redis DEL
    reports whether it deleted it; concurrent redeemers of one ticket get exactly one True).
    """
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 128:
        raise WsTicketInvalid()
    key = WS_TICKET_KEY.format(fingerprint(ticket))
    value = cache.get(key)
    if not isinstance(value, dict) or not cache.delete(key):
        raise WsTicketInvalid()
    try:
        issued = Principal.from_payload(value["principal"])
        session_id = str(value.get("session", ""))
    except (KeyError, TypeError, ValueError):
        raise WsTicketInvalid() from None
    current = ws_principal_current(principal=issued, session_id=session_id)
    if current is None:
        raise WsTicketInvalid()
    return WsGrant(principal=current, session_id=session_id)


def ws_ticket_redeem(*, ticket: str) -> Principal:
    """Redeem a ticket once and return its principal (see `ws_ticket_redeem_grant`)."""
    return ws_ticket_redeem_grant(ticket=ticket).principal
