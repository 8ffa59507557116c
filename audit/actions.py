"""The audit action registry: every action an app may record, declared once as an enum.

Each app declares its actions in ``<app>/audit_actions.py``::

    @register
    class OrderAction(AuditAction):
        CREATED = "order.created"
        CANCELLED = "order.cancelled"

and records them with ``audit.services.record(OrderAction.CANCELLED, order, ...)``.
``record`` refuses an action that no app registered (``AuditActionUnknown``, a programming
error caught by the tests), so a typo never reaches the WORM trail, where it could never be
corrected. Values are dotted ``<entity>.<verb>`` strings, stored as they are: the registry
changes nothing in the rows, so existing events keep verifying.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TypeVar

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_REGISTRY: dict[str, type[AuditAction]] = {}


class AuditAction(StrEnum):
    """Base of the per-app action enums (no members of its own)."""


class AuditActionUnknown(ValueError):
    """``record`` got an action that no app registered."""


E = TypeVar("E", bound=type[AuditAction])


def register(enum_cls: E) -> E:
    """Class decorator: make every member of ``enum_cls`` a recordable action.

    Refuses malformed values (``entity.verb``, lower case) and an action already registered
    by another enum (one owner per action).
    """
    for member in enum_cls:
        value = str(member.value)
        if not _ACTION_RE.match(value) or len(value) > 80:
            raise ValueError(f"audit action {value!r} is not a dotted lower-case name")
        owner = _REGISTRY.get(value)
        if owner is not None and owner is not enum_cls:
            raise ValueError(f"audit action {value!r} is already registered by {owner.__name__}")
        _REGISTRY[value] = enum_cls
    return enum_cls


def is_registered(action: str) -> bool:
    return str(action) in _REGISTRY


def require_registered(action: str) -> str:
    """The action's string value; ``AuditActionUnknown`` when no app registered it."""
    value = str(action)
    if value not in _REGISTRY:
        raise AuditActionUnknown(
            f"audit action {value!r} is not registered: declare it in an app's audit_actions.py"
        )
    return value


def registered_actions() -> dict[str, str]:
    """Every registered action -> the name of the enum that owns it (docs, tests)."""
    return {value: enum_cls.__name__ for value, enum_cls in sorted(_REGISTRY.items())}
