"""Django's PostgreSQL backend, with a full connection pool answering 503 instead of 500.

Settings use this engine (``aventide.core.postgres``) for every PostgreSQL database; it is
Django's own backend plus two things (docs/decisions/0008-connection-pooling.md):

- When the process's pool (``OPTIONS["pool"]``) has no free connection within
  ``DB_POOL_TIMEOUT_SECONDS``, psycopg-pool raises ``PoolTimeout``. Here that becomes
  ``DatabaseBusy``, a DomainError with status 503 and code ``SERVICE_UNAVAILABLE``, so the
  client gets the error contract with ``Retry-After`` instead of an anonymous 500, and the
  ``METRIC_DB_POOL_EXHAUSTED`` counter says it happened.
- When no connection of the pool ever succeeded (wrong database name, credentials, host
  down), the timeout is not "busy": one direct connection attempt gets the server's own
  error and ``DatabaseUnavailable`` (503, same code) is raised from it, so an operator's
  traceback says why (``database "x" does not exist``).
- When the pool's health check (``CONN_HEALTH_CHECKS``) finds a lent connection dead, the
  server has usually ended its idle siblings too (``pg_terminate_backend``, a restart, a
  failover). psycopg-pool would hand them to the waiting request one by one, sleeping 1 s,
  2 s, 4 s... between failed checks, so one request could spend the whole pool timeout on
  dead connections and answer 503 (issue 15, drill 4). Here the first failed check checks
  every idle connection of the pool at once (``ConnectionPool.check``: dead ones are replaced
  in the background), so the request's next try gets a live or a new connection.
- The health check costs a round trip per borrowed connection (psycopg's empty query): about
  one server round trip in eight of a chat send. Like PgBouncer's ``server_check_delay``, a
  connection handed back less than ``DB_POOL_CHECK_AFTER_SECONDS`` ago (default 30) is lent
  without it when its socket has nothing to read: a server that ended the session
  (``pg_terminate_backend``, a restart, ``idle_session_timeout``) has sent its last words, which
  makes the idle socket readable, and such a connection gets the full check (and the purge
  below). Older connections, or ``DB_POOL_CHECK_AFTER_SECONDS=0``, always get the full check.
- A process forked from one that had opened a pool (Celery's prefork children) must not use
  the parent's pool: its sockets are the parent's and its worker threads did not survive the
  fork. The child forgets the inherited pools (without closing them, which would end the
  parent's sessions) and opens its own on first use.
"""

from __future__ import annotations

import os
import select
import time
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base as postgresql
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout, TooManyRequests

from aventide.core import metrics
from aventide.core.errors import DomainError

RETRY_AFTER_SECONDS = 1


class DatabaseBusy(DomainError):
    """Every connection of this process's pool stayed busy for the whole pool timeout."""

    code = "SERVICE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "The service is busy right now. Retry in a moment."


class DatabaseWrapper(postgresql.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        """Django's pool property, with `_check_or_purge` as the health check (Django's own
        creates the pool with ``ConnectionPool.check_connection``; this is its code with that
        one argument changed)."""
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        pools: dict[str, Any] = self._connection_pools  # type: ignore[attr-defined]  # django-stubs lacks it
        if self.alias not in pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            options = {} if pool_options is True else dict(pool_options)
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # Django sets it properly later on
            created = _Pool(
                kwargs=connect_kwargs,
                open=False,  # opened on first use
                configure=self._configure_connection,  # type: ignore[attr-defined]  # idem
                check=_check_or_purge if self.settings_dict["CONN_HEALTH_CHECKS"] else None,
                **options,
            )
            pools.setdefault(self.alias, created)  # the first thread to build one wins
        return pools[self.alias]

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        try:
            return super().get_new_connection(conn_params)
        except (PoolTimeout, TooManyRequests) as exc:
            pool = getattr(self, "pool", None)  # django-stubs 5.2 lacks the pool attributes
            stats = pool.get_stats() if pool is not None else {}
            if pool is not None and _never_connected(stats):
                _raise_connect_error(pool)  # unreachable, not exhausted: say why
            metrics.emit(
                "METRIC_DB_POOL_EXHAUSTED",
                labels={"alias": self.alias},
                poolMax=stats.get("pool_max"),
                requestsWaiting=stats.get("requests_waiting"),
            )
            raise DatabaseBusy(headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from exc


#: The monotonic time a connection was last handed back to its pool (an attribute on it).
_RETURNED_AT = "_aventide_returned_at"


class _Pool(ConnectionPool):
    """psycopg-pool's pool, noting when each connection comes back (for ``_check_or_purge``)."""

    def putconn(self, conn: Any) -> None:
        setattr(conn, _RETURNED_AT, time.monotonic())
        super().putconn(conn)


def server_has_spoken(raw: Any) -> bool:
    """True when an idle connection's socket has something to read -- PostgreSQL's last words
    (the FATAL of ``pg_terminate_backend``, a shutdown, an idle timeout) or its end of file --
    or when it has no socket any more. A zero-timeout poll: no round trip. Anything else an
    idle session could receive is rare and only costs the caller a real check."""
    try:
        fileno = raw.fileno()
        poller = select.poll()
        poller.register(fileno, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except Exception:  # noqa: BLE001 -- no socket any more (psycopg: "the connection is closed")
        return True


def _recently_returned_and_quiet(conn: Any) -> bool:
    """A connection handed back less than ``DB_POOL_CHECK_AFTER_SECONDS`` ago, idle, whose
    server has not spoken since: lent without a round trip."""
    from django.conf import settings

    returned_at = getattr(conn, _RETURNED_AT, None)
    window = getattr(settings, "DB_POOL_CHECK_AFTER_SECONDS", 0.0)
    if returned_at is None or time.monotonic() - returned_at >= window:
        return False
    if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
        return False
    return not server_has_spoken(conn)


def _check_or_purge(conn: Any) -> None:
    """The pool's health check of a connection it is about to lend. A connection handed back
    a moment ago whose socket is quiet passes without a round trip (see the module's
    docstring); any other gets psycopg's check. When that fails, every idle connection of the
    pool is checked too (dead ones dropped and replaced in the background) before the failure
    goes back to the pool's loop, so the caller's next try gets a live connection or waits
    for a new one -- not for the next dead one after a backoff sleep. Counted as
    ``METRIC_DB_CONNECTION_LOST{sqlstate="pool"}``."""
    if _recently_returned_and_quiet(conn):
        return
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)
        metrics.emit("METRIC_DB_CONNECTION_LOST", labels={"sqlstate": "pool"})
        if pool is not None:
            pool.check()
        raise


def _never_connected(stats: dict[str, int]) -> bool:
    """Every connection the pool tried failed: nothing is busy, the database is unreachable
    (wrong name, credentials, host down) -- answering "busy, retry" would mislead."""
    errors = stats.get("connections_errors", 0)
    return errors > 0 and stats.get("connections_num", 0) <= errors


class DatabaseUnavailable(DomainError):
    """No connection to the database could be made at all (its cause is chained)."""

    code = "SERVICE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "The service cannot reach its database right now. Retry in a moment."


def _raise_connect_error(pool: Any) -> None:
    """Connect once outside the pool and raise ``DatabaseUnavailable`` from the server's own
    error (e.g. ``database "x" does not exist``): clients still get a 503 with Retry-After,
    an operator's traceback names the cause. One probe per timed-out request, only while no
    connection of the pool ever succeeded; when the probe connects, the caller says busy."""
    import psycopg

    kwargs = {**pool.kwargs, "connect_timeout": 5}
    try:
        psycopg.connect(pool.conninfo, **kwargs).close()
    except psycopg.OperationalError as cause:
        metrics.emit("METRIC_DB_UNREACHABLE", labels={"alias": "default"})
        raise DatabaseUnavailable(headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from cause


#: Pools inherited through fork(): kept referenced (never used, never closed) so the child
#: neither reuses nor terminates the parent's sessions.
_INHERITED_POOLS: list[Any] = []


def _forget_inherited_pools() -> None:
    pools: dict[str, Any] = getattr(postgresql.DatabaseWrapper, "_connection_pools", {})
    if pools:
        _INHERITED_POOLS.extend(pools.values())
        pools.clear()


os.register_at_fork(after_in_child=_forget_inherited_pools)
