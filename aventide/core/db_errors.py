"""A database connection lost mid-request is a 503 the client retries, not a 500.

PostgreSQL ends sessions on purpose (``pg_terminate_backend``, a restart, a failover, an
idle-session timeout) and networks drop them. A request whose connection goes away mid-way
gets an ``OperationalError`` from its next statement or its COMMIT; unhandled, that was a 500
``INTERNAL_ERROR`` with a traceback -- an answer the client cannot act on. It is transient:
the pool replaces the connection (docs/decisions/0008-connection-pooling.md), and a retry
succeeds. So the error handlers (``aventide.core.handlers``, ``aventide.core.middleware``)
answer it with `DatabaseConnectionLost`: 503 ``SERVICE_UNAVAILABLE`` (the code of every
"the database is not there right now" answer: pool exhausted, database unreachable) with
``Retry-After``, and count ``METRIC_DB_CONNECTION_LOST``.

The transaction was rolled back by PostgreSQL -- unless the connection went down during the
COMMIT itself, when the outcome is unknown to the server process too. Retrying is safe either
way because every write the API offers is idempotent on its key (a message's
``clientMessageId``, an order's ``Idempotency-Key``, a transition answered 409 from the state
it already reached): the message does not promise that nothing happened.

Only connection loss is translated here; other database errors (a constraint the code did not
expect, a bad query) stay 500s: they are bugs, and a retry would not cure them.
"""

from __future__ import annotations

from http import HTTPStatus

from django.db import OperationalError

from aventide.core import metrics
from aventide.core.errors import DomainError
from aventide.core.logging import get_logger

logger = get_logger("aventide.db")

RETRY_AFTER_SECONDS = 1

#: SQLSTATEs of a session the server ended: admin_shutdown (pg_terminate_backend, a fast
#: shutdown), crash_shutdown, cannot_connect_now (starting up / shutting down); and class 08,
#: connection exceptions.
_ENDED_SESSION = frozenset({"57P01", "57P02", "57P03"})


class DatabaseConnectionLost(DomainError):
    """The request's database connection went away mid-way (see the module docstring)."""

    code = "SERVICE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "The service lost its connection to the database. Retry in a moment."


def connection_lost(exc: BaseException) -> bool:
    """True when ``exc`` is Django's ``OperationalError`` for a PostgreSQL connection that is
    gone: the server ended the session, or the client side found the socket closed (libpq's
    "server closed the connection unexpectedly", psycopg's "the connection is closed": no
    SQLSTATE). Other operational errors (SQLite's "database is locked", a statement timeout,
    a serialization failure) are not connection loss."""
    if not isinstance(exc, OperationalError):
        return False
    try:
        import psycopg
    except ImportError:  # pragma: no cover -- psycopg is a requirement
        return False
    cause = exc.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    sqlstate = cause.sqlstate
    return sqlstate is None or sqlstate in _ENDED_SESSION or sqlstate.startswith("08")


def as_connection_lost(exc: BaseException) -> DatabaseConnectionLost | None:
    """The 503 to answer for ``exc`` when it is connection loss (logged and counted), else
    None. Never logs the server's message text: only the error class and its SQLSTATE."""
    if not connection_lost(exc):
        return None
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    metrics.emit("METRIC_DB_CONNECTION_LOST", labels={"sqlstate": sqlstate or "none"})
    logger.warning("DB_CONNECTION_LOST", error=type(cause).__name__, sqlstate=sqlstate)
    return DatabaseConnectionLost(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
