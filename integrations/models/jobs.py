"""The outbox: ``Job`` (one unit of work for a provider) and ``Attempt`` (each call).

A ``Job`` is written by ``integrations.services.enqueue`` inside the caller's transaction and
executed after commit by the worker (``integrations.services.job_run``). Its status is a
django-fsm-2 field::

    pending ──► running ──► succeeded
       ▲           │ ├────► retry_scheduled ──► running ...
       │           │ ├────► discarded (obsolete: the work no longer applies)
       │           │ └────► dead ──► discarded
       └───────────┴── dead ── replay (attempts reset)

Transitions only guard and assign (no I/O, no queries, no saves). Delayed work is the row's
``next_attempt_at`` (never a Celery ETA); ``lease_expires_at`` is the running attempt's lease
(or, for a waiting job, the moment its last dispatch expires).
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django_fsm import FSMField, transition

from aventide.core.logging import redact_mapping

__all__ = ["Attempt", "AttemptOutcome", "Job", "JobStatus"]


class JobStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    RETRY_SCHEDULED = "retry_scheduled"
    DEAD = "dead"
    DISCARDED = "discarded"


WAITING = (JobStatus.PENDING, JobStatus.RETRY_SCHEDULED)


class Job(models.Model):
    kind = models.CharField(max_length=32)
    operation = models.CharField(max_length=64)
    # The execution input the adapter needs while the job may still run (audit, logs and
    # admin only ever see it redacted); replaced by its redacted form once the job succeeded
    # or was discarded, so PII is kept no longer than the work needs it.
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_fingerprint = models.CharField(max_length=64)
    country_code = models.CharField(max_length=2, blank=True, default="")
    status = FSMField(default=JobStatus.PENDING, choices=JobStatus.choices, protected=False)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=8)
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=64, blank=True, default="")
    last_error = models.CharField(max_length=500, blank=True, default="")
    provider_reference = models.CharField(max_length=255, blank=True, default="")
    discard_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    #: the fields a transition may change (``save(update_fields=...)``)
    TRANSITION_FIELDS = (
        "status",
        "payload",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_error_code",
        "last_error",
        "provider_reference",
        "discard_reason",
        "finished_at",
        "updated_at",
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="integ_job_due_idx",
                condition=models.Q(status__in=["pending", "retry_scheduled"]),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="integ_job_lease_idx",
                condition=models.Q(status="running"),
            ),
            models.Index(
                fields=["country_code", "kind", "updated_at"],
                name="integ_job_dlq_idx",
                condition=models.Q(status="dead"),
            ),
        ]

    def __str__(self) -> str:
        return f"job:{self.pk} {self.kind}/{self.operation} {self.status}"

    @property
    def is_dead(self) -> bool:
        return bool(self.status == JobStatus.DEAD)

    # -- transitions: guard + assign only ------------------------------------------------
    @transition(field=status, source=list(WAITING), target=JobStatus.RUNNING)
    def start(self, *, lease_until: datetime) -> None:
        """A worker claimed the job and is about to call the provider."""
        self.attempts += 1
        self.lease_expires_at = lease_until

    @transition(field=status, source=JobStatus.RUNNING, target=JobStatus.SUCCEEDED)
    def succeed(self, *, at: datetime, provider_reference: str) -> None:
        self.provider_reference = provider_reference[:255]
        self.payload = redact_mapping(self.payload or {})
        self.lease_expires_at = None
        self.last_error_code = ""
        self.last_error = ""
        self.finished_at = at

    @transition(
        field=status,
        source=[JobStatus.RUNNING, *WAITING],
        target=JobStatus.RETRY_SCHEDULED,
    )
    def schedule_retry(self, *, at: datetime, code: str, error: str = "") -> None:
        """Run again at ``at`` (a transient failure, an open circuit, an expired lease)."""
        self.next_attempt_at = at
        self.lease_expires_at = None
        self.last_error_code = code[:64]
        self.last_error = error[:500]

    @transition(field=status, source=JobStatus.RUNNING, target=JobStatus.DEAD)
    def die(self, *, at: datetime, code: str, error: str = "") -> None:
        """Into the DLQ: a permanent refusal, or the last transient failure."""
        self.lease_expires_at = None
        self.last_error_code = code[:64]
        self.last_error = error[:500]
        self.finished_at = at

    @transition(field=status, source=JobStatus.RUNNING, target=JobStatus.DISCARDED)
    def drop(self, *, at: datetime, code: str, error: str = "") -> None:
        """The work no longer applies (``JobObsolete``): closed without the DLQ."""
        self.lease_expires_at = None
        self.last_error_code = code[:64]
        self.last_error = error[:500]
        self.discard_reason = f"obsolete: {code}"[:500]
        self.payload = redact_mapping(self.payload or {})
        self.finished_at = at

    @transition(field=status, source=JobStatus.DEAD, target=JobStatus.PENDING)
    def replay(self, *, at: datetime) -> None:
        """Out of the DLQ: same idempotency key, attempts reset."""
        self.attempts = 0
        self.next_attempt_at = at
        self.lease_expires_at = None
        self.finished_at = None

    @transition(field=status, source=JobStatus.DEAD, target=JobStatus.DISCARDED)
    def discard(self, *, at: datetime, reason: str) -> None:
        self.discard_reason = reason[:500]
        self.payload = redact_mapping(self.payload or {})
        self.finished_at = at


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class Attempt(models.Model):
    """One call of a job to its provider (or local executor): latency, outcome, redacted
    error. Written in the same transaction as the job's transition."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    provider = models.CharField(max_length=64, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")  # redacted
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        # ``number`` is the job's attempt counter at the call; a DLQ replay restarts it at 1,
        # so a job's history is ordered by id, not by number.
        ordering = ["id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of job:{self.job_id} {self.outcome}"
