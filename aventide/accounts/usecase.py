"""The use-case frame: how every state-changing service runs (docs/development/recipe.md).

::

    def order_cancel(*, actor: Principal, order_id: int, reason: str = "") -> Order:
        with use_case(actor) as uc:
            order = uc.lock(Order.objects.filter(pk=order_id)) or raise_(OrderNotFound())
            uc.require_scope(order.country_code, action="order.cancel", target=order)
            ...                                  # checks, FSM transition, save(update_fields)
            uc.act_as(role)                      # the level audit rows record
            ledger.escrow_refund(actor=actor, ...)   # nested: same transaction + attribution
            audit.record(OrderAction.CANCELLED, order, data=...)
            uc.on_commit(lambda: realtime_fanout(...))
        return order

What the frame does, so each service does not:
1. **One transaction, durable at the top.** The outermost frame opens
   ``transaction.atomic(durable=True)``; a frame inside another frame (a ledger movement inside
   an order transition) joins it -- no savepoint, no second lock of what the caller locked, no
   re-check of what the caller checked. A frame called inside a transaction opened by
   framework code (the admin's change view) joins that one.
2. **Attribution.** The frame binds (principal, level) for its whole transaction, so every
   audit row written inside -- the service's own and its nested steps' -- records the same
   actor, level and requestId.
3. **Scope refusals survive the rollback.** `require_scope` is ScopeGuard's check; a refusal
   raises ``SCOPE_VIOLATION`` and its audit row is written after the frame's transaction rolled
   back (see ``aventide.accounts.refusals``), so callers never order the guard before the
   transaction by hand.
4. **Row locks.** `lock(queryset)` = ``select_for_update(of=("self",)).first()``; on hot
   paths `lock_row(Model, related=(...), pk=...)`, the same lock with its SQL built once.
5. **After-commit effects.** `on_commit(fn)` runs ``fn`` only if and after the outermost
   transaction commits (realtime fan-out, outbox dispatch): nothing leaves the process before
   commit, nothing leaves at all on rollback. Effects are robust: one failing effect is logged
   and does not stop the others (the durable rows are the source of truth).
6. **The last write rides with the COMMIT.** In a frame that owns its transaction, the
   realtime publish (which holds the global ordering lock to the commit) is deferred to the
   frame's end and sent together with the ``COMMIT`` (``aventide.core.committail``,
   decision 0021): the lock is never held across a round trip of the request thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, models, transaction
from django.db.models import QuerySet

from aventide.accounts.refusals import in_application_transaction, record_refusals
from aventide.accounts.scope import ScopeGuard
from aventide.core import committail, context, rowsql
from aventide.core.context import Attribution
from aventide.core.principal import Principal

M = TypeVar("M", bound=models.Model)

_current: ContextVar[UseCase | None] = ContextVar("aventide_use_case", default=None)


@dataclass
class UseCase:
    """The running frame. Services get it from ``with use_case(actor) as uc``."""

    principal: Principal
    level: str
    effects: list[Callable[[], Any]] = field(default_factory=list)

    def act_as(self, level: str) -> None:
        """Set the level audit rows of this frame record (the actor's role in the step:
        ``buyer``, ``seller``, ``recipient``, ``L2``...)."""
        self.level = level
        context.set_attribution(Attribution(self.principal, level))

    def require_scope(self, country_code: str, *, action: str, target: Any = "") -> None:
        """Staff must operate in ``country_code`` (403 ``SCOPE_VIOLATION``, audited even
        though this frame rolls back). Parties and the system are authorized by the service's
        own role rules, not by country scope."""
        if not self.principal.is_staff:
            return
        if isinstance(target, models.Model):
            target = f"{target._meta.model_name}:{target.pk}"
        ScopeGuard.check(self.principal, country_code, action=action, target=str(target))

    def require_level(self, minimum: str) -> None:
        ScopeGuard.require_level(self.principal, minimum)

    def lock(self, queryset: QuerySet[M]) -> M | None:
        """The first row of ``queryset``, locked FOR UPDATE until the frame ends (only that
        row: rows joined in by ``select_related`` are read, not locked)."""
        # No ORDER BY (``first()`` would add one): the row is found by its WHERE alone, so the
        # planner never walks the primary key index to honour an ordering.
        rows = list(queryset.select_for_update(of=("self",)).order_by()[:1])
        return rows[0] if rows else None

    def lock_row(self, model: type[M], *, related: Sequence[str] = (), **equals: Any) -> M | None:
        """`lock` for the hot paths: the row of ``model`` whose columns equal ``equals``,
        locked until the frame ends, forward foreign keys in ``related`` read in the same
        statement -- its SQL built once per shape instead of compiled per call
        (``aventide.core.rowsql``, decision 0020)."""
        return rowsql.lock_row(model, related=related, **equals)

    def on_commit(self, effect: Callable[[], Any]) -> None:
        """Run ``effect`` after the outermost transaction commits (never on rollback)."""
        self.effects.append(effect)
        transaction.on_commit(effect, robust=True)


def current_use_case() -> UseCase | None:
    """The frame running in this context, if any (nested steps join it)."""
    return _current.get()


@contextmanager
def use_case(actor: Principal, *, level: str | None = None) -> Iterator[UseCase]:
    """Run a state change as ``actor`` (see the module docstring).

    ``level`` is the audit level to start with (default: the principal's own level); change
    it with `UseCase.act_as` once the service knows the actor's role.
    """
    if not isinstance(actor, Principal):  # a programming error, not a client error
        raise TypeError(f"use_case() needs a Principal, got {type(actor).__name__}")
    outer = _current.get()
    if outer is not None and connection.in_atomic_block:
        yield outer  # a nested step: same transaction, same attribution
        return
    # No frame, or the outer frame's transaction is over: this code runs in its after-commit
    # effects (e.g. an eager task). Those get a frame -- and a transaction -- of their own.
    frame = UseCase(principal=actor, level=actor.level if level is None else level)
    joins_foreign = in_application_transaction()
    frame_token = _current.set(frame)
    attribution_token = context.set_attribution(Attribution(actor, frame.level))
    principal_token = context.set_principal(actor) if context.get_principal() is None else None
    try:
        with transaction.atomic(durable=not joins_foreign, savepoint=not joins_foreign):
            # A frame that owns its transaction sends the deferred last writes (the realtime
            # publish) with its COMMIT, in one round trip (decision 0021).
            committail.open_tail()
            try:
                yield frame
            except BaseException:
                committail.discard()
                raise
            committail.flush()
    finally:
        if principal_token is not None:
            context.reset_principal(principal_token)
        context.reset_attribution(attribution_token)
        _current.reset(frame_token)
        # After the rollback of a refused call: its scope refusals' audit rows (no-op when
        # nothing was refused, or while a foreign transaction is still open).
        record_refusals()
