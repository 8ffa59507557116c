"""Statements that travel with the COMMIT (decision 0021).

A use-case frame that owns its transaction (the outermost ``atomic`` of the connection, no
savepoint open) opens a *tail*. A write that must be the transaction's last one -- the
realtime publish, which takes the global ordering lock and holds it to the commit -- is
deferred into the tail instead of running at once (``defer``), and when the frame's body
ends the tail's statements and the ``COMMIT`` go to PostgreSQL as one simple-protocol query
(``flush``): one round trip, so the lock is held for the server's own work and the WAL
flush only, never while the request thread waits for its turn on the GIL between a result
and the next statement.

Everywhere else -- no frame, a frame inside a foreign transaction or a test's transaction,
a savepoint open, SQLite -- ``defer`` answers False and the caller runs its statement now,
as before.

A failure in the tail (its statements or the COMMIT) raises inside the frame's ``atomic``,
which rolls back: the transaction's changes and the tail commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

#: a deferred statement's handler: gets the statement's first row (``None``: no row)
OnRow = Callable[[tuple[Any, ...] | None], None]

_ATTR = "_aventide_commit_tail"


def _wrapper() -> BaseDatabaseWrapper:
    """This thread's connection object (``django.db.connection`` is a proxy shared by every
    thread: state kept in its ``__dict__`` would be shared too)."""
    wrapper: BaseDatabaseWrapper = transaction.get_connection()
    return wrapper


@dataclass
class _Tail:
    statements: list[tuple[str, Sequence[Any], OnRow]] = field(default_factory=list)


def open_tail() -> bool:
    """Start a tail for the transaction just opened by the caller's ``atomic`` -- only when
    it is the connection's outermost block (so the tail's COMMIT is the transaction's own)
    on PostgreSQL. Returns whether it did."""
    connection = _wrapper()
    blocks = connection.atomic_blocks
    if connection.vendor != "postgresql" or len(blocks) != 1 or connection.savepoint_ids:
        connection.__dict__.pop(_ATTR, None)
        return False
    connection.__dict__[_ATTR] = _Tail()
    return True


def defer(sql: str, params: Sequence[Any], on_row: OnRow) -> bool:
    """Queue ``sql`` to run right before the COMMIT, in the same round trip, and hand its
    first row to ``on_row`` then. False: no tail here (or a savepoint is open, whose
    rollback must be able to undo the statement) -- the caller runs it now."""
    connection = _wrapper()
    tail: _Tail | None = connection.__dict__.get(_ATTR)
    if tail is None or connection.savepoint_ids or not connection.in_atomic_block:
        return False
    tail.statements.append((sql, params, on_row))
    return True


def discard() -> None:
    """Drop the tail without running it (the frame's body failed: the transaction rolls
    back)."""
    _wrapper().__dict__.pop(_ATTR, None)


def flush() -> None:
    """End the frame's body: run the deferred statements and the COMMIT as one query, then
    hand each statement's row to its handler. Django's ``atomic`` exits after this and finds
    the transaction already committed (psycopg's ``commit()`` is a no-op then); its
    on-commit callbacks run as usual. Nothing deferred (or the transaction is marked for
    rollback): nothing is sent here and ``atomic`` commits or rolls back as usual."""
    connection = _wrapper()
    tail: _Tail | None = connection.__dict__.pop(_ATTR, None)
    if tail is None or not tail.statements or connection.needs_rollback:
        return
    raw = connection.connection
    assert raw is not None and connection.in_atomic_block  # the frame's transaction is open
    # Client-side binding: the simple query protocol, which carries several statements.
    with connection._prepare_cursor(psycopg.ClientCursor(raw)) as cursor:  # type: ignore[attr-defined]
        script = "; ".join(sql for sql, _, _ in tail.statements) + "; COMMIT"
        params = [p for _, stmt_params, _ in tail.statements for p in stmt_params]
        cursor.execute(script, params)
        rows: list[tuple[Any, ...] | None] = []
        for _ in tail.statements:
            # a statement without a result set (an INSERT with no RETURNING) hands None
            rows.append(cursor.fetchone() if cursor.description is not None else None)
            cursor.nextset()
    for (_, _, on_row), row in zip(tail.statements, rows, strict=True):
        on_row(row)
