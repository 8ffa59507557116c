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

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 64
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, an anonymous recipient, staff, or the system (L0, a webhook)."""

    type: str  # "user" | "anonymous" | "staff" | "system"
    id: str
    level: str = ""  # staff level (L1/L2/L3) or role ("buyer", "recipient", "L0")
    country_code: str = ""

    def as_log(self) -> str:
        return f"{self.type}:{self.id}"


_request_id: ContextVar[str | None] = ContextVar("aventide_request_id", default=None)
_actor: ContextVar[Actor | None] = ContextVar("aventide_actor", default=None)


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


def get_actor() -> Actor | None:
    return _actor.get()


def set_actor(actor: Actor | None) -> Token[Actor | None]:
    return _actor.set(actor)


def reset_actor(token: Token[Actor | None]) -> None:
    _actor.reset(token)


@contextmanager
def bound_context(*, request_id: str | None = None, actor: Actor | None = None) -> Iterator[str]:
    """Bind a request id (new one when None) and actor for a block: tasks, commands, tests."""
    rid = sanitize_request_id(request_id) or new_request_id()
    rid_token = _request_id.set(rid)
    actor_token = _actor.set(actor) if actor is not None else None
    try:
        yield rid
    finally:
        if actor_token is not None:
            _actor.reset(actor_token)
        _request_id.reset(rid_token)
