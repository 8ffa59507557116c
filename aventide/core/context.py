"""Request context shared by services, logs, audit and Celery tasks.

The values live in contextvars so they follow the request through sync and async code (asgiref
copies the context into the threads it uses) and are restored in a Celery worker from the task
headers. Nothing here imports a domain app.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from aventide.core.principal import Principal

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 64
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_request_id: ContextVar[str | None] = ContextVar("aventide_request_id", default=None)
_principal: ContextVar[Principal | None] = ContextVar("aventide_principal", default=None)
_attribution: ContextVar[Attribution | None] = ContextVar("aventide_attribution", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def sanitize_request_id(raw: str | None) -> str | None:
    """Return the client's id when it is sane (<=64 chars of [A-Za-z0-9._-]), else None."""
    if raw is None:
        return None
    return raw if _REQUEST_ID_RE.fullmatch(raw) else None


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


def get_principal() -> Principal | None:
    """Who the current request/task acts as (logs read it); None before authentication."""
    return _principal.get()


def set_principal(principal: Principal | None) -> Token[Principal | None]:
    return _principal.set(principal)


def reset_principal(token: Token[Principal | None]) -> None:
    _principal.reset(token)


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who audit rows written right now are attributed to, and at which level.

    Bound by the use-case frame (``aventide.accounts.usecase``) for its whole transaction, so
    nested writes (a ledger posting inside an order transition) record the same actor and
    level as the step that caused them. ``level`` is the actor's role in the step (``buyer``,
    ``seller``, ``recipient``, ``L1``..``L3``, ``L0``).
    """

    principal: Principal
    level: str


def get_attribution() -> Attribution | None:
    return _attribution.get()


def set_attribution(attribution: Attribution | None) -> Token[Attribution | None]:
    return _attribution.set(attribution)


def reset_attribution(token: Token[Attribution | None]) -> None:
    _attribution.reset(token)


@contextmanager
def bound_context(
    *, request_id: str | None = None, principal: Principal | None = None
) -> Iterator[str]:
    """Bind a request id (new one when None) and principal for a block: tasks, commands,
    tests."""
    rid = sanitize_request_id(request_id) or new_request_id()
    rid_token = _request_id.set(rid)
    principal_token = _principal.set(principal) if principal is not None else None
    try:
        yield rid
    finally:
        if principal_token is not None:
            _principal.reset(principal_token)
        _request_id.reset(rid_token)
