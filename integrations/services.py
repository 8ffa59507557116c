"""The outbox: enqueue inside the caller's transaction, run after commit, retry, DLQ.

Write use cases (docs/development/recipe.md), each in a use-case frame:

- ``enqueue`` -- called INSIDE the caller's frame (it joins it: same transaction, same
  attribution). Writes the ``Job`` and ``integration.intent``; after commit it publishes
  ``integrations.run_job``. Idempotent on ``idempotency_key``: the same key and the same
  request return the existing job; another request is ``IDEMPOTENCY_KEY_REUSED`` (422).
  A broker that refuses the publish loses nothing: the job stays ``pending`` and the beat task
  ``dispatch_due`` hands it over later.
- ``job_run`` -- the worker: (1) claim the due job (``FOR UPDATE SKIP LOCKED``) and mark it
  ``running`` with a lease (PostgreSQL: one statement in autocommit), then ask the provider's
  circuit breaker (open: undo the claim and reschedule without calling, ``CIRCUIT_OPEN``);
  (2) call the adapter (or the local executor) OUTSIDE any transaction, with the timeout in
  the ``Call``; (3) in a second short transaction store the ``Attempt`` and classify:
  success -> ``succeeded``; transient -> ``retry_scheduled`` with backoff
  (``integrations.backoff``), or ``dead`` after ``max_attempts``; permanent -> ``dead`` at once;
  ``JobObsolete`` (the work no longer applies) -> ``discarded`` at once, no DLQ.
  ``integration.result`` is audited when the job ends (succeeded, dead or discarded); entering
  the DLQ counts ``METRIC_INTEGRATION_DLQ`` and raises the ``ALERT_INTEGRATION_DLQ`` alert.
  Safe to run twice: a job not due, or running elsewhere, is left alone.
- ``jobs_dispatch_due`` -- the beat task: re-queue ``running`` jobs whose lease expired
  (worker killed mid-job: the next run sends the same idempotency key, so one effect), then
  hand every due job to the broker once per ``INTEGRATIONS_DISPATCH_GRACE_SECONDS``.
- ``job_replay`` / ``job_discard`` -- the DLQ, for ops leads and L3 (and the system, from
  ``manage.py integrations dlq``): replay keeps the idempotency key and resets attempts;
  discard needs a reason. Both audited.

Nothing here talks to a provider inside a transaction.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from aventide.accounts.contracts import UseCase, use_case
from aventide.core import aftercommit
from aventide.core import context as request_context
from aventide.core.errors import IdempotencyKeyReused
from aventide.core.logging import get_logger, redact_mapping, redact_text
from aventide.core.metrics import emit
from aventide.core.principal import SYSTEM, Principal
from integrations import backoff, breaker, executors, hooks, observability, publisher
from integrations.audit_actions import IntegrationAction
from integrations.errors import (
    CIRCUIT_OPEN,
    EXECUTOR_ERROR,
    LEASE_EXPIRED,
    UNKNOWN_PROVIDER,
    DiscardReasonRequired,
    DlqActionForbidden,
    IntegrationPayloadInvalid,
    JobNotFound,
    JobNotInDlq,
)
from integrations.models import Attempt, AttemptOutcome, Job, JobStatus
from integrations.models.jobs import WAITING
from integrations.providers import registry
from integrations.providers.base import (
    Call,
    JobObsolete,
    Outcome,
    PermanentProviderError,
    TransientProviderError,
)

logger = get_logger("aventide.integrations")

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# The use-case frame's context variable (aventide.accounts.usecase), cleared for publishes.
_FRAME_VAR_NAME = "aventide_use_case"
_jitter = random.SystemRandom()


# --- enqueue ---------------------------------------------------------------------------


def request_fingerprint(
    *, kind: str, operation: str, payload: Mapping[str, Any], country_code: str
) -> str:
    """sha256 of the request's canonical JSON (what "the same request" means for a key)."""
    canonical = json.dumps(
        {"k": kind, "o": operation, "p": payload, "c": country_code.upper()},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def enqueue(
    *,
    kind: str,
    operation: str,
    payload: Mapping[str, Any],
    idempotency_key: str,
    country_code: str,
    actor: Principal | None = None,
) -> Job:
    """Write an outbox job in the caller's transaction; it runs after commit.

    Joins the enclosing use-case frame (or opens one as ``actor``, default ``SYSTEM``).
    Idempotent: same key + same request -> the existing job (no new intent, no new publish);
    same key + another request -> ``IDEMPOTENCY_KEY_REUSED``. Concurrent enqueues of one key
    serialize on the unique index (``INSERT ... ON CONFLICT DO NOTHING``), never fail.
    Queries: 1 for a new job plus the intent's audit row; 2 when the key exists.
    """
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise IntegrationPayloadInvalid(
            details={"idempotencyKey": [f"1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters."]}
        )
    if not kind or not operation:
        raise IntegrationPayloadInvalid(details={"kind": ["kind and operation are required."]})
    try:
        body = json.loads(json.dumps(dict(payload)))
    except (TypeError, ValueError):
        raise IntegrationPayloadInvalid(details={"payload": ["Must be JSON."]}) from None
    country = (country_code or "").upper()
    fingerprint = request_fingerprint(
        kind=kind, operation=operation, payload=body, country_code=country
    )
    with use_case(actor or SYSTEM) as uc:
        now = timezone.now()
        job = Job(
            kind=kind,
            operation=operation,
            payload=body,
            idempotency_key=key,
            request_fingerprint=fingerprint,
            country_code=country,
            max_attempts=backoff.policy_for(kind).max_attempts,
            next_attempt_at=now,
            created_at=now,
        )
        if not _insert_new(job):
            job = Job.objects.get(idempotency_key=key)
            if job.request_fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            return job
        audit.record(
            IntegrationAction.INTENT,
            job,
            data={
                "kind": kind,
                "operation": operation,
                "idempotencyKey": key,
                "payload": redact_mapping(body),
            },
        )
        # Counted, not logged: every enqueue is routine and its intent audit row (above) is
        # the record (a line costs ~0.06 ms alone, more under the request threads' GIL).
        emit("METRIC_INTEGRATION_ENQUEUED", labels={"provider": kind}, log=False)
        job_id = job.pk
        uc.on_commit(lambda: publish([job_id]))
    return job


def _insert_new(job: Job) -> bool:
    """``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING id``: one statement;
    True (and ``job.pk`` set) when this call inserted the row, False when the key exists
    (a concurrent inserter of the same key waits for the first to commit, then gets False)."""
    values = [f.get_db_prep_save(f.pre_save(job, add=True), connection) for f in _INSERT_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), values)
        row = cursor.fetchone()
    if row is None:
        return False
    job.pk = row[0]
    job._state.adding = False
    job._state.db = connection.alias
    return True


#: every column of a new job but its id, in model order
_INSERT_FIELDS = [f for f in Job._meta.concrete_fields if not f.primary_key]
_INSERT_SQL: dict[str, str] = {}


def _insert_sql() -> str:
    """``_insert_new``'s statement, built once per database vendor from the model's own
    table and column names (quoted; every value is a parameter)."""
    sql = _INSERT_SQL.get(connection.vendor)
    if sql is None:
        qn = connection.ops.quote_name
        columns = ", ".join(qn(f.column) for f in _INSERT_FIELDS)
        placeholders = ", ".join(["%s"] * len(_INSERT_FIELDS))
        sql = f"INSERT INTO {qn(Job._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
        sql += f" ON CONFLICT ({qn('idempotency_key')}) DO NOTHING RETURNING id"
        _INSERT_SQL[connection.vendor] = sql
    return sql


# --- handing jobs to the broker ----------------------------------------------------------


def _send(job_ids: list[int]) -> None:
    from integrations import tasks

    for job_id in job_ids:
        try:
            tasks.run_job.delay(job_id)
        except Exception as exc:  # noqa: BLE001 -- broker down: the row is the truth
            emit(
                "METRIC_INTEGRATION_PUBLISH_FAILED",
                labels={"error": type(exc).__name__},
                jobId=job_id,
            )


aftercommit.register_handler(publisher.KIND, publisher.publish_batch)


def _publish_in_background() -> bool:
    return aftercommit.background_enabled() and not settings.CELERY_TASK_ALWAYS_EAGER


def publish(job_ids: Iterable[int]) -> None:
    """Hand jobs to Celery (after commit). A broker error is counted, not raised: the job
    stays due and ``dispatch_due`` hands it over later.

    With ``AFTER_COMMIT_SENDER=background`` (the ASGI server's workers) and a real broker,
    the jobs are queued for the process's background sender, which publishes them in
    batches (``integrations.publisher``); a full queue drops the publish and counts it
    (``METRIC_AFTER_COMMIT_DROPPED``): ``dispatch_due`` hands the job over later.

    After-commit effects run while the committing frame is still bound in the context; the
    publish runs in a copy of the context without it, so an eager run (embedded mode, tests)
    opens its own frames and transactions -- the same code path as a worker.
    """
    ids = list(job_ids)
    if not ids:
        return
    if _publish_in_background():
        rid = request_context.get_request_id()
        for job_id in ids:
            aftercommit.submit(publisher.KIND, (job_id, rid))
        return
    detached = contextvars.copy_context()
    for var in detached:
        if var.name == _FRAME_VAR_NAME:
            detached.run(var.set, None)
    detached.run(_send, ids)


# --- the worker --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    job_id: int
    attempt: int
    call: Call
    local: bool
    probe: bool
    #: the breaker was closed with no failure counted when the call was permitted
    clean: bool
    #: the row as the claim left it (``running``); the settle writes its transition from it
    job: Job | None = None


@dataclass(frozen=True)
class _Result:
    outcome: AttemptOutcome
    provider: str
    latency_ms: int
    started_at: datetime
    reference: str = ""
    data: Mapping[str, Any] | None = None
    code: str = ""
    error: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    obsolete: bool = False  # JobObsolete: closed as discarded, not the DLQ


#: What ``Job.start`` assigns (+ ``updated_at``): the claim writes only these, not the payload.
_START_FIELDS = ("status", "attempts", "lease_expires_at", "updated_at")

#: The claim in one statement (PostgreSQL): lock the due row (``SKIP LOCKED``: a job another
#: worker holds is left alone) and apply ``Job.start``'s assignments -- status ``running``,
#: ``attempts + 1``, the lease -- returning the row as it was before (``prev_*``) and after.
#: ``tests/integrations/test_outbox_core.py`` keeps it equal to ``Job.start``.
_CLAIM_SQL_TEMPLATE = """
WITH due AS (
    SELECT id, status, lease_expires_at FROM integrations_job
    WHERE id = %s AND status = ANY(%s) AND next_attempt_at <= %s
    FOR UPDATE SKIP LOCKED
)
UPDATE integrations_job AS j
SET status = %s, attempts = j.attempts + 1, lease_expires_at = %s, updated_at = %s
FROM due WHERE j.id = due.id
RETURNING {columns}, due.status AS prev_status, due.lease_expires_at AS prev_lease_expires_at
"""
#: The model's columns in field order, so a row becomes a ``Job`` without the ORM's raw()
#: (no per-call column resolution).
_JOB_FIELDS: list[Any] = list(Job._meta.concrete_fields)
_CLAIM_SQL = _CLAIM_SQL_TEMPLATE.format(columns=", ".join(f"j.{f.column}" for f in _JOB_FIELDS))


def _claims_in_one_statement() -> bool:
    """PostgreSQL claims with ``_CLAIM_SQL`` and settles with a guarded UPDATE; other
    databases (SQLite, embedded mode) lock the row and save through the ORM."""
    return connection.vendor == "postgresql"


def _claim(job_id: int) -> _Claim | None:
    now = timezone.now()
    lease = timedelta(seconds=float(settings.INTEGRATIONS_LEASE_SECONDS))
    if _claims_in_one_statement():
        # One statement needs no transaction of its own (autocommit): no BEGIN/COMMIT.
        job, previous = _claim_row(job_id, now, now + lease)
        if job is None:
            return None
        permit = _permit(job, now, previous)
        return None if permit is None else _claim_of(job, permit)
    with use_case(SYSTEM):
        rows = list(
            Job.objects.filter(pk=job_id, status__in=WAITING, next_attempt_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by()[:1]
        )
        if not rows:
            return None
        job = rows[0]
        permit = _permit(job, now, None)
        if permit is None:
            return None
        job.start(lease_until=now + lease)
        job.save(update_fields=_START_FIELDS)
        return _claim_of(job, permit)


_LOCAL = breaker.Permit(allowed=True)


def _permit(
    job: Job, now: datetime, previous: tuple[str, int, datetime | None] | None
) -> breaker.Permit | None:
    """Ask the job's circuit breaker (local executors have none). Refused (open circuit):
    reschedule the job without calling -- undoing the one-statement claim first
    (``previous``: the row before it, written back only while the claim is still ours) --
    and None."""
    if executors.is_local(job.kind):
        return _LOCAL
    permit = breaker.before_call(job.kind)
    if permit.allowed:
        return permit
    wait = permit.retry_in + _jitter.uniform(0.0, 1.0)
    with use_case(SYSTEM):
        if previous is not None:  # undo the claim's start: as if never claimed
            claimed_attempt = job.attempts
            job.status, job.attempts, job.lease_expires_at = previous
            job.schedule_retry(at=now + timedelta(seconds=wait), code=CIRCUIT_OPEN)
            job.updated_at = now
            Job.objects.filter(
                pk=job.pk, status=JobStatus.RUNNING, attempts=claimed_attempt
            ).order_by().update(**{name: getattr(job, name) for name in Job.TRANSITION_FIELDS})
        else:
            job.schedule_retry(at=now + timedelta(seconds=wait), code=CIRCUIT_OPEN)
            job.save(update_fields=list(Job.TRANSITION_FIELDS))
    emit(
        "METRIC_INTEGRATION_CALL",
        labels={"provider": job.kind, "outcome": "circuit_open"},
        jobId=job.pk,
    )
    return None


def _claim_of(job: Job, permit: breaker.Permit) -> _Claim:
    call = Call(
        kind=job.kind,
        operation=job.operation,
        payload=job.payload,
        idempotency_key=job.idempotency_key,
        country_code=job.country_code,
        timeout_seconds=float(settings.INTEGRATIONS_CALL_TIMEOUT_SECONDS),
        attempt=job.attempts,
    )
    local = executors.is_local(job.kind)
    return _Claim(job.pk, job.attempts, call, local, permit.probe, permit.clean, job=job)


def _claim_row(
    job_id: int, now: datetime, lease_until: datetime
) -> tuple[Job | None, tuple[str, int, datetime | None] | None]:
    """Run ``_CLAIM_SQL``: the claimed job (as ``Job.start`` leaves it) and its previous
    (status, attempts, lease), or (None, None) when the job is not due or held elsewhere."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL, [job_id, list(WAITING), now, JobStatus.RUNNING, lease_until, now]
        )
        row = cursor.fetchone()
    if row is None:
        return None, None
    width = len(_JOB_FIELDS)
    values = [
        f.from_db_value(value, None, connection) if hasattr(f, "from_db_value") else value
        for f, value in zip(_JOB_FIELDS, row[:width], strict=True)
    ]
    job = Job.from_db(connection.alias, [f.attname for f in _JOB_FIELDS], values)
    previous = (str(row[width]), job.attempts - 1, row[width + 1])
    return job, previous


def _execute(claim: _Claim) -> _Result:
    """Call the provider (no transaction open). Never raises."""
    started_at = timezone.now()
    started = time.perf_counter()
    provider = "local"

    def ms() -> int:
        return max(0, int((time.perf_counter() - started) * 1000))

    try:
        fn = executors.local_executor(claim.call.kind)
        if fn is not None:
            outcome: Outcome = fn(claim.call)
        else:
            adapter = registry.adapter_for(claim.call.kind, claim.call.country_code)
            provider = str(getattr(adapter, "name", "") or type(adapter).__name__)
            call = claim.call
            if hooks.RENDER_KEY in call.payload:  # built now, never stored (integrations.hooks)
                call = replace(call, payload=hooks.render_payload(call.payload))
            outcome = adapter.execute(call)
    except PermanentProviderError as exc:
        return _Result(
            AttemptOutcome.PERMANENT, provider, ms(), started_at,
            code=exc.code, error=redact_text(exc.detail), status_code=exc.status_code,
            obsolete=isinstance(exc, JobObsolete),
        )  # fmt: skip
    except TransientProviderError as exc:
        return _Result(
            AttemptOutcome.TRANSIENT, provider, ms(), started_at,
            code=exc.code, error=redact_text(exc.detail), status_code=exc.status_code,
            retry_after=exc.retry_after,
        )  # fmt: skip
    except registry.UnknownProvider:
        return _Result(
            AttemptOutcome.PERMANENT, provider, ms(), started_at,
            code=UNKNOWN_PROVIDER, error=f"no adapter for kind {claim.call.kind}",
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 -- not proof of a refusal: transient
        return _Result(
            AttemptOutcome.TRANSIENT, provider, ms(), started_at,
            code=EXECUTOR_ERROR, error=type(exc).__name__,
        )  # fmt: skip
    return _Result(
        AttemptOutcome.SUCCEEDED, provider, ms(), started_at,
        reference=str(outcome.provider_reference or ""), data=dict(outcome.data or {}),
    )  # fmt: skip


def _digest(data: Mapping[str, Any] | None) -> str:
    canonical = json.dumps(redact_mapping(data or {}), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_TERMINAL = (JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.DISCARDED)


def _settle(claim: _Claim, result: _Result) -> Job | None:
    now = timezone.now()
    job = claim.job
    if (
        job is not None
        and _claims_in_one_statement()
        and not hooks.has_listeners(job.kind, job.operation)
    ):
        return _settle_in_one_statement(claim, job, result, now)
    with use_case(SYSTEM) as uc:
        if job is not None:
            # The claim's copy of the row: while it is ``running`` with this attempt number
            # nobody else writes it (a lease expiry or a re-claim changes one of the two, and
            # the guarded UPDATE below then matches nothing).
            guarded = True
        else:
            locked = uc.lock(Job.objects.filter(pk=claim.job_id, status=JobStatus.RUNNING))
            if locked is None or locked.attempts != claim.attempt:
                _stale(claim)
                return None
            job, guarded = locked, False
        stored_payload = job.payload
        attempt = _transition(job, claim, result, now)
        if guarded:
            # Instead of lock + save: the transition written only if the row is still ours
            # (PostgreSQL: with the attempt row, in one statement).
            if not _settle_row(job, claim.attempt, attempt):
                _stale(claim)
                return None
        else:
            job.save(update_fields=list(Job.TRANSITION_FIELDS))
            attempt.save(force_insert=True)
        if job.status in _TERMINAL:
            audit.record(IntegrationAction.RESULT, job, data=_result_data(job, result))
            hooks.notify_result(
                hooks.JobOutcome(
                    job_id=job.pk,
                    kind=job.kind,
                    operation=job.operation,
                    status=str(job.status),
                    idempotency_key=job.idempotency_key,
                    country_code=job.country_code,
                    payload=stored_payload,
                    provider_reference=job.provider_reference,
                    error_code=job.last_error_code,
                    permanent=result.outcome == AttemptOutcome.PERMANENT,
                    attempts=job.attempts,
                )
            )
        if job.status == JobStatus.DEAD:
            dead_id, kind, code, country = job.pk, job.kind, job.last_error_code, job.country_code
            uc.on_commit(lambda: _dlq_alert(dead_id, kind, code, country))
    return job


def _transition(job: Job, claim: _Claim, result: _Result, now: datetime) -> Attempt:
    """Apply the result's transition to ``job`` (in memory) and build its ``Attempt`` row."""
    if result.outcome == AttemptOutcome.SUCCEEDED:
        job.succeed(at=now, provider_reference=result.reference)
    elif result.outcome == AttemptOutcome.TRANSIENT and job.attempts < job.max_attempts:
        delay = backoff.delay_for(
            backoff.policy_for(job.kind), job.attempts, retry_after=result.retry_after
        )
        job.schedule_retry(at=now + timedelta(seconds=delay), code=result.code, error=result.error)
    elif result.obsolete:
        job.drop(at=now, code=result.code, error=result.error)
    else:
        job.die(at=now, code=result.code, error=result.error)
    job.updated_at = now
    return Attempt(
        job=job,
        number=claim.attempt,
        started_at=result.started_at,
        latency_ms=result.latency_ms,
        outcome=result.outcome,
        provider=result.provider[:64],
        error=result.error[:500],
        error_code=result.code[:64],
        status_code=result.status_code,
    )


def _result_data(job: Job, result: _Result) -> dict[str, Any]:
    """``integration.result``'s data: the evidence of how the job ended."""
    return {
        "status": job.status,
        "kind": job.kind,
        "operation": job.operation,
        "idempotencyKey": job.idempotency_key,
        "providerReference": job.provider_reference,
        "attempts": job.attempts,
        "latencyMs": result.latency_ms,
        "errorCode": job.last_error_code,
        "responseDigest": _digest(result.data),
    }


def _settle_in_one_statement(claim: _Claim, job: Job, result: _Result, now: datetime) -> Job | None:
    """PostgreSQL, a job no app listens to: the settle is ONE statement in autocommit (no
    transaction of its own, so no BEGIN/COMMIT) -- the guarded transition, its ``Attempt``
    row and, when the job ends, its ``integration.result`` audit row, each written only if
    the claim is still ours. Atomic like any single statement."""
    attempt = _transition(job, claim, result, now)
    event = None
    if job.status in _TERMINAL:
        event = audit.build(
            IntegrationAction.RESULT, job, data=_result_data(job, result), actor=SYSTEM
        )
    if not _settle_row(job, claim.attempt, attempt, event):
        _stale(claim)
        return None
    if job.status == JobStatus.DEAD:
        _dlq_alert(job.pk, job.kind, job.last_error_code, job.country_code)
    return job


_SETTLE_SQL: str | None = None
_SETTLE_JOB_FIELDS: list[Any] = [Job._meta.get_field(name) for name in Job.TRANSITION_FIELDS]
_SETTLE_ATTEMPT_FIELDS = [
    f for f in Attempt._meta.concrete_fields if not f.primary_key and f.name != "job"
]


def _settle_sql() -> str:
    """The guarded settle (PostgreSQL), built once from the models' own tables and columns:
    ``Job``'s transition fields written while the row is ``running`` with the claim's attempt
    number, and the ``Attempt`` row inserted from that UPDATE's result (nothing when the
    guard matched nothing). Each attempt value is cast to its column's type. It returns the
    attempt's id; ``_settle_with_event_sql`` extends it with the audit row."""
    global _SETTLE_SQL
    if _SETTLE_SQL is None:
        qn = connection.ops.quote_name
        assignments = ", ".join(f"{qn(f.column)} = %s" for f in _SETTLE_JOB_FIELDS)
        columns = ", ".join(qn(f.column) for f in _SETTLE_ATTEMPT_FIELDS)
        values = ", ".join(f"%s::{f.db_type(connection)}" for f in _SETTLE_ATTEMPT_FIELDS)
        job_table, attempt_table = qn(Job._meta.db_table), qn(Attempt._meta.db_table)
        job_fk = qn(Attempt._meta.get_field("job").column)
        # No input reaches the SQL text: names come from the models, values are parameters.
        _SETTLE_SQL = (
            f"WITH settled AS (UPDATE {job_table} SET {assignments}"  # noqa: S608
            f" WHERE id = %s AND status = %s AND attempts = %s RETURNING id),"
            f" attempt AS (INSERT INTO {attempt_table} ({job_fk}, {columns})"
            f" SELECT settled.id, {values} FROM settled RETURNING id)"
        )
    return _SETTLE_SQL


#: the settle's last clause without an audit row: the attempt's id
_ATTEMPT_ID = " SELECT id FROM attempt"
_SETTLE_WITH_EVENT_SQL: str | None = None


def _settle_with_event_sql(spec: audit.InsertSpec) -> str:
    """``_settle_sql`` plus the audit row, inserted only if the settle matched."""
    global _SETTLE_WITH_EVENT_SQL
    if _SETTLE_WITH_EVENT_SQL is None:
        values = ", ".join(f"%s::{t}" for t in spec.types)
        _SETTLE_WITH_EVENT_SQL = (
            f"{_settle_sql()} INSERT INTO {spec.table} ({', '.join(spec.columns)})"  # noqa: S608
            f" SELECT {values} FROM settled RETURNING id, (SELECT id FROM attempt)"
        )
    return _SETTLE_WITH_EVENT_SQL


def _settle_row(
    job: Job, attempt_number: int, attempt: Attempt, event: audit.AuditEvent | None = None
) -> bool:
    """Write the settled ``job``, its ``attempt`` (and ``event``, an audit row built by
    ``audit.build``) while the claim is still ours (status ``running``, attempt
    ``attempt_number``); False when it is stale (nothing written)."""
    if not _claims_in_one_statement():
        written = (
            Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=attempt_number)
            .order_by()
            .update(**{name: getattr(job, name) for name in Job.TRANSITION_FIELDS})
        )
        if written:
            attempt.save(force_insert=True)
        return bool(written)
    params = [f.get_db_prep_save(getattr(job, f.attname), connection) for f in _SETTLE_JOB_FIELDS]
    params += [job.pk, JobStatus.RUNNING.value, attempt_number]
    params += [
        f.get_db_prep_save(getattr(attempt, f.attname), connection) for f in _SETTLE_ATTEMPT_FIELDS
    ]
    with connection.cursor() as cursor:
        if event is None:
            cursor.execute(_settle_sql() + _ATTEMPT_ID, params)
            row = cursor.fetchone()
            attempt_id = row[0] if row is not None else None
        else:
            spec = audit.insert_spec(event)
            cursor.execute(_settle_with_event_sql(spec), params + spec.values)
            row = cursor.fetchone()
            attempt_id = row[1] if row is not None else None
            if row is not None:
                audit.inserted(event, row[0])
    if attempt_id is None:
        return False
    attempt.pk = attempt_id
    attempt._state.adding = False
    return True


def _stale(claim: _Claim) -> None:
    """The lease expired and another worker took over: its run settles the job."""
    logger.warning("INTEGRATION_RESULT_STALE", jobId=claim.job_id)


def _dlq_alert(job_id: int, kind: str, code: str, country: str) -> None:
    emit("METRIC_INTEGRATION_DLQ", labels={"provider": kind, "code": code}, jobId=job_id)
    logger.error(
        "ALERT_INTEGRATION_DLQ",
        jobId=job_id,
        provider=kind,
        code=code,
        country=country,
        runbook="docs/operations/integrations.md#reading-and-replaying-the-dlq",
    )


def job_run(*, job_id: int) -> Job | None:
    """Run one due job once (see the module docstring); None when there was nothing to do."""
    claim = _claim(job_id)
    if claim is None:
        return None
    result = _execute(claim)
    if not claim.local:
        if result.outcome == AttemptOutcome.TRANSIENT:
            breaker.record_failure(claim.call.kind, probe=claim.probe)
        else:  # the provider answered (a refusal is an answer): it is up
            breaker.record_success(claim.call.kind, probe=claim.probe, clean=claim.clean)
    observability.observe_call(
        provider=claim.call.kind, outcome=result.outcome.value, duration_ms=result.latency_ms
    )
    emit(
        "METRIC_INTEGRATION_CALL",
        labels={"provider": claim.call.kind, "outcome": result.outcome.value},
        # Routine successes are counted (and timed), not logged: a line per job is only cost.
        log=result.outcome != AttemptOutcome.SUCCEEDED,
        durationMs=result.latency_ms,
        jobId=claim.job_id,
        code=result.code,
    )
    return _settle(claim, result)


@dataclass(frozen=True)
class DispatchReport:
    requeued: int
    dispatched: list[int]


def jobs_dispatch_due(*, now: datetime | None = None, limit: int | None = None) -> DispatchReport:
    """Re-queue running jobs whose lease expired, then hand due jobs to the broker.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` (several beat/dispatcher processes never
    hand out one job twice) and marked dispatched until ``now + grace`` (``lease_expires_at``
    of a waiting job), so a slow broker does not get the same job every tick. The publish
    happens after commit.
    """
    current = now or timezone.now()
    batch = limit or int(settings.INTEGRATIONS_DISPATCH_BATCH)
    grace = timedelta(seconds=float(settings.INTEGRATIONS_DISPATCH_GRACE_SECONDS))
    with use_case(SYSTEM) as uc:
        expired = list(
            Job.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=current)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("lease_expires_at")[:batch]
        )
        for job in expired:
            job.schedule_retry(at=current, code=LEASE_EXPIRED, error="lease expired")
            job.save(update_fields=list(Job.TRANSITION_FIELDS))
            logger.warning("INTEGRATION_LEASE_EXPIRED", jobId=job.pk, provider=job.kind)
        due = list(
            Job.objects.filter(status__in=WAITING, next_attempt_at__lte=current)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=current))
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:batch]
        )
        if due:
            Job.objects.filter(pk__in=due).update(lease_expires_at=current + grace)
            uc.on_commit(lambda: publish(due))
    return DispatchReport(requeued=len(expired), dispatched=due)


# --- the DLQ -----------------------------------------------------------------------------


def _require_dlq_operator(actor: Principal) -> None:
    if actor.is_system:
        return
    if actor.is_staff and (actor.is_superuser or actor.is_ops_lead or actor.has_level("L3")):
        return
    raise DlqActionForbidden()


def _dead_job(uc: UseCase, actor: Principal, job_id: int, action: str) -> Job:
    job = uc.lock(Job.objects.filter(pk=job_id))
    if job is None:
        raise JobNotFound()
    uc.require_scope(job.country_code, action=action, target=job)
    _require_dlq_operator(actor)
    if job.status != JobStatus.DEAD:
        raise JobNotInDlq()
    return job


def job_replay(*, actor: Principal, job_id: int) -> Job:
    """Take a dead job out of the DLQ: same idempotency key, attempts reset, ``pending``,
    published after commit. Ops leads, L3 and the system; staff only in their countries.
    Audit: ``integration.dlq_replayed`` (previous error code, attempts)."""
    with use_case(actor) as uc:
        job = _dead_job(uc, actor, job_id, "integration.dlq_replay")
        previous = {"errorCode": job.last_error_code, "attempts": job.attempts}
        job.replay(at=timezone.now())
        job.save(update_fields=list(Job.TRANSITION_FIELDS))
        audit.record(
            IntegrationAction.DLQ_REPLAYED,
            job,
            data={"kind": job.kind, "idempotencyKey": job.idempotency_key, **previous},
        )
        uc.on_commit(lambda: publish([job_id]))
    emit("METRIC_INTEGRATION_DLQ_REPLAYED", labels={"provider": job.kind}, jobId=job_id)
    return job


def job_discard(*, actor: Principal, job_id: int, reason: str) -> Job:
    """Close a dead job for good (``discarded``); ``reason`` is required (400
    ``DISCARD_REASON_REQUIRED``). Audit: ``integration.dlq_discarded`` with the reason."""
    text = (reason or "").strip()
    if not text:
        raise DiscardReasonRequired()
    with use_case(actor) as uc:
        job = _dead_job(uc, actor, job_id, "integration.dlq_discard")
        job.discard(at=timezone.now(), reason=redact_text(text))
        job.save(update_fields=list(Job.TRANSITION_FIELDS))
        audit.record(
            IntegrationAction.DLQ_DISCARDED,
            job,
            data={
                "kind": job.kind,
                "idempotencyKey": job.idempotency_key,
                "reason": text,
                "errorCode": job.last_error_code,
            },
        )
    return job
