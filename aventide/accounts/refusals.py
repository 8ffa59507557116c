"""Security refusals whose audit rows must survive the rollback of the refused call.

A refused scope check (``scope.violation``) or a refused edit of a protected account
(``user.change_refused``) raises, so the transaction it happened in rolls back -- together
with anything written in it. The refusal itself must still reach the WORM trail. So a refusal
is queued (a context-local list) and written, each in its own short transaction, as soon as no
application transaction is open:
- at once, when the refusal happens outside any transaction (reads, views);
- by the use-case frame, right after its own transaction rolled back;
- by the request middleware (``ActorContextMiddleware``) at the end of the request, for a
  transaction opened by framework code (the admin's change view wraps its save in one).

Refusals also emit their metric at once (a log line survives any rollback).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit import services as audit
from aventide.core import context
from aventide.core.logging import get_logger
from aventide.core.principal import Principal

logger = get_logger("aventide.refusals")


@dataclass(frozen=True, slots=True)
class Refusal:
    action: str
    target: str | tuple[str, str]
    principal: Principal
    country_code: str
    data: Mapping[str, Any]
    request_id: str | None


_pending: ContextVar[tuple[Refusal, ...]] = ContextVar("aventide_refusals", default=())


def in_application_transaction() -> bool:
    """True inside a transaction opened by application code (not by the test framework).

    Django's TestCase (and pytest-django's ``db``) wrap each test in atomic blocks flagged
    ``_from_testcase``; those do not count (Django's own ``durable`` check does the same).
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return False
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def refuse(
    action: str,
    target: str | tuple[str, str],
    *,
    principal: Principal,
    country_code: str,
    data: Mapping[str, Any],
) -> None:
    """Queue the audit row of a refusal, and write it now if no transaction is open.
    The caller raises its DomainError right after."""
    refusal = Refusal(
        action=action,
        target=target,
        principal=principal,
        country_code=country_code,
        data=dict(data),
        request_id=context.get_request_id(),
    )
    _pending.set((*_pending.get(), refusal))
    record_refusals()


def has_pending_refusals() -> bool:
    return bool(_pending.get())


def record_refusals() -> int:
    """Write the queued refusals' audit rows, each in its own short transaction; only when no
    application transaction is open (else they would roll back with it). Returns how many
    were written."""
    pending = _pending.get()
    if not pending or in_application_transaction():
        return 0
    _pending.set(())
    for refusal in pending:
        token = context.set_request_id(refusal.request_id)
        try:
            with transaction.atomic():
                audit.record(
                    refusal.action,
                    refusal.target,
                    actor=refusal.principal,
                    country_code=refusal.country_code,
                    data=refusal.data,
                )
        finally:
            context.reset_request_id(token)
    return len(pending)
