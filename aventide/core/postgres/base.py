"""Django's PostgreSQL backend, with a full connection pool answering 503 instead of 500.

Settings use this engine (``aventide.core.postgres``) for every PostgreSQL database; it is
Django's own backend plus two things (docs/decisions/0008-connection-pooling.md):

- When the process's pool (``OPTIONS["pool"]``) has no free connection within
  ``DB_POOL_TIMEOUT_SECONDS``, psycopg-pool raises ``PoolTimeout``. Here that becomes
  ``DatabaseBusy``, a DomainError with status 503 and code ``SERVICE_UNAVAILABLE``, so the
  client gets the error contract with ``Retry-After`` instead of an anonymous 500, and the
  ``METRIC_DB_POOL_EXHAUSTED`` counter says it happened.
- A process forked from one that had opened a pool (Celery's prefork children) must not use
  the parent's pool: its sockets are the parent's and its worker threads did not survive the
  fork. The child forgets the inherited pools (without closing them, which would end the
  parent's sessions) and opens its own on first use.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Any

from django.db.backends.postgresql import base as postgresql
from psycopg_pool import PoolTimeout, TooManyRequests

from aventide.core import metrics
from aventide.core.errors import DomainError

RETRY_AFTER_SECONDS = 1


class DatabaseBusy(DomainError):
    """Every connection of this process's pool stayed busy for the whole pool timeout."""

    code = "SERVICE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "The service is busy right now. Retry in a moment."


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        try:
            return super().get_new_connection(conn_params)
        except (PoolTimeout, TooManyRequests) as exc:
            pool = getattr(self, "pool", None)  # django-stubs 5.2 lacks the pool attributes
            stats = pool.get_stats() if pool is not None else {}
            metrics.emit(
                "METRIC_DB_POOL_EXHAUSTED",
                labels={"alias": self.alias},
                poolMax=stats.get("pool_max"),
                requestsWaiting=stats.get("requests_waiting"),
            )
            raise DatabaseBusy(headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from exc


#: Pools inherited through fork(): kept referenced (never used, never closed) so the child
#: neither reuses nor terminates the parent's sessions.
_INHERITED_POOLS: list[Any] = []


def _forget_inherited_pools() -> None:
    pools: dict[str, Any] = getattr(postgresql.DatabaseWrapper, "_connection_pools", {})
    if pools:
        _INHERITED_POOLS.extend(pools.values())
        pools.clear()


os.register_at_fork(after_in_child=_forget_inherited_pools)
