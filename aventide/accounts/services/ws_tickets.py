"""Single-use tickets for the WebSocket handshake (``POST /api/auth/ws-token``)."""

from __future__ import annotations

import secrets

from django.core.cache import cache

from aventide.accounts.errors import WsTicketInvalid
from aventide.accounts.throttling import fingerprint
from aventide.core.principal import Principal

WS_TICKET_TTL_SECONDS = 60
WS_TICKET_KEY = "auth:ws-ticket:{}"


def ws_ticket_issue(*, actor: Principal) -> str:
    """A single-use ticket (``WS_TICKET_TTL_SECONDS``) for the WebSocket handshake, stored in
    the shared cache so any ASGI process can redeem it. The cache key is a hash of the ticket;
    the value is the caller's principal, so the socket acts as exactly who asked for it."""
    ticket = secrets.token_urlsafe(32)
    cache.set(WS_TICKET_KEY.format(fingerprint(ticket)), actor.to_payload(), WS_TICKET_TTL_SECONDS)
    return ticket


def ws_ticket_redeem(*, ticket: str) -> Principal:
    """Redeem a ticket once and return its principal; ``WS_TICKET_INVALID`` when unknown,
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
    try:
        return Principal.from_payload(payload)
    except (KeyError, TypeError, ValueError):
        raise WsTicketInvalid() from None
