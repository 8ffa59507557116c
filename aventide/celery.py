"""The Celery app. The request id travels in task headers and is restored in the worker,
where tasks act as the one system principal (L0).

Embedded mode (no broker configured) runs tasks eagerly in-process; full mode uses the
broker from CELERY_BROKER_URL (Redis). The environment is validated before the worker or
beat starts.
"""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery import Celery, signals

from aventide.core import context
from aventide.core.env import validate_env
from aventide.core.principal import SYSTEM

REQUEST_ID_TASK_HEADER = "aventide_request_id"

validate_env()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")

app = Celery("aventide")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_tokens: dict[str, Any] = {}


@signals.setup_logging.connect
def _keep_django_logging(**_: Any) -> None:
    """Celery must not install its own plain-text handlers: Django's LOGGING (JSON, redacted)
    already configures every logger, task loggers included."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect
def _log_push_mode(**_: Any) -> None:
    from aventide.core.logging import log_runtime_flags

    log_runtime_flags()


@signals.before_task_publish.connect
def _add_request_id_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Sender side: put the current request id in the task message headers."""
    rid = context.get_request_id()
    if headers is not None and rid:
        headers[REQUEST_ID_TASK_HEADER] = rid


@signals.task_prerun.connect
def _restore_request_id(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """Worker side: bind the sender's request id (or a new one) for the task's duration."""
    request = getattr(task, "request", None)
    rid = None
    if request is not None:
        rid = getattr(request, REQUEST_ID_TASK_HEADER, None) or (
            (getattr(request, "headers", None) or {}).get(REQUEST_ID_TASK_HEADER)
        )
    if getattr(request, "is_eager", False) and context.get_request_id():
        return  # eager: already running inside the caller's context
    token = context.set_request_id(context.sanitize_request_id(rid) or context.new_request_id())
    # A worker acts as the one system principal (L0); its logs say so.
    principal_token = context.set_principal(SYSTEM)
    if task_id:
        _tokens[task_id] = (token, principal_token)


@signals.task_postrun.connect
def _reset_request_id(task_id: str | None = None, **_: Any) -> None:
    tokens = _tokens.pop(task_id or "", None)
    if tokens is not None:
        request_token, principal_token = tokens
        try:
            context.reset_principal(principal_token)
            context.reset_request_id(request_token)
        except ValueError:  # reset from another context (thread pool): just clear
            context.set_principal(None)
            context.set_request_id(None)


@signals.task_postrun.connect
def _close_broken_database_connections(task: Any = None, **_: Any) -> None:
    """With ``CELERY_DB_REUSE_MAX`` a worker keeps its connection across tasks; one that
    cannot serve the next task (an error left it unusable -- a restart, a terminated backend
    -- or a task left autocommit off) is closed now, not after the next hundred tasks fail
    on it. Django's own check (``close_if_unusable_or_obsolete``)
    minus its age rule: with the pool, every connection is "obsolete" at once."""
    if getattr(getattr(task, "request", None), "is_eager", False):
        return  # in-process: the caller's connection, not the worker's
    from django.db import InterfaceError, connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        try:
            if conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
                conn.close()
            elif conn.errors_occurred:
                if conn.is_usable():
                    conn.errors_occurred = False
                else:
                    conn.close()
        except InterfaceError:  # already gone, as Celery's own close tolerates
            pass


@signals.task_prerun.connect
def _drop_connections_closed_by_the_server(task: Any = None, **_: Any) -> None:
    """Before a task, drop a kept connection the server already closed (an operator's
    ``pg_terminate_backend``, a restart, an idle timeout): PostgreSQL's last words make the
    idle socket readable, so a zero-timeout ``select`` tells -- no round trip -- and the task
    starts on a fresh connection instead of failing on the dead one (with
    ``CELERY_DB_REUSE_MAX`` nothing else would close it first)."""
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    from django.db import connections

    from aventide.core.postgres.base import server_has_spoken

    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if getattr(raw, "fileno", None) is None or conn.in_atomic_block:
            continue  # no socket: SQLite, not PostgreSQL
        if server_has_spoken(raw):
            conn.close()
