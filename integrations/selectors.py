"""Scoped reads of the outbox: the DLQ listing (admin, command) and backlog figures (ops)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Count, Min, QuerySet

from aventide.accounts.contracts import ScopeGuard
from aventide.core.principal import Principal
from integrations import breaker
from integrations.models import Job, JobStatus
from integrations.models.jobs import WAITING


def dlq_for(
    actor: Principal,
    *,
    kind: str | None = None,
    country_code: str | None = None,
    since: datetime | None = None,
    job_ids: list[int] | None = None,
) -> QuerySet[Job]:
    """Dead jobs ``actor`` may see (staff: their countries; the system: all), oldest first."""
    queryset = Job.objects.filter(status=JobStatus.DEAD)
    if actor.is_staff:
        queryset = ScopeGuard.filter(actor, queryset, "country_code")
    if kind:
        queryset = queryset.filter(kind=kind)
    if country_code:
        queryset = queryset.filter(country_code=country_code.upper())
    if since is not None:
        queryset = queryset.filter(updated_at__gte=since)
    if job_ids:
        queryset = queryset.filter(pk__in=job_ids)
    return queryset.order_by("updated_at", "pk")


def dlq_size_by_kind() -> dict[str, int]:
    """Dead jobs per provider kind (metrics, alert rules)."""
    rows = Job.objects.filter(status=JobStatus.DEAD).values("kind").annotate(n=Count("pk"))
    return {row["kind"]: int(row["n"]) for row in rows}


def pending_backlog() -> int:
    """Jobs waiting to run (pending or retry_scheduled)."""
    return Job.objects.filter(status__in=WAITING).count()


def due_backlog(*, now: datetime) -> int:
    """Jobs waiting to run that are due (pending or retry_scheduled, ``next_attempt_at`` <=
    ``now``): the pending backlog of the alert rule (jobs held by a backoff are not late)."""
    return Job.objects.filter(status__in=WAITING, next_attempt_at__lte=now).count()


def dlq_size() -> int:
    """Jobs in the DLQ, all kinds."""
    return Job.objects.filter(status=JobStatus.DEAD).count()


def circuits_open_since(kinds: list[str]) -> dict[str, datetime | None]:
    """Per provider kind: since when its circuit has been open (or half-open) without
    closing, as an aware datetime; None when it is closed. Read from the breaker's shared
    storage (Redis in full mode), one round trip or two per kind."""
    out: dict[str, datetime | None] = {}
    for kind in kinds:
        since = breaker.open_since(kind)
        out[kind] = datetime.fromtimestamp(since, tz=UTC) if since is not None else None
    return out


def circuit_states(kinds: list[str]) -> dict[str, str]:
    """The circuit state of each provider kind."""
    return {kind: breaker.state(kind).value for kind in kinds}


def backlog_by_kind(*, now: datetime) -> dict[str, tuple[int, datetime | None]]:
    """Per kind: waiting jobs, and the oldest ``next_attempt_at`` among those already due."""
    rows = (
        Job.objects.filter(status__in=WAITING)
        .values("kind")
        .annotate(n=Count("pk"), oldest=Min("next_attempt_at"))
    )
    return {
        row["kind"]: (int(row["n"]), row["oldest"] if row["oldest"] <= now else None)
        for row in rows
    }


def dlq_entered_since(since: datetime) -> int:
    """Jobs that entered the DLQ since ``since`` (and are still there)."""
    return Job.objects.filter(status=JobStatus.DEAD, finished_at__gte=since).count()


def job_exists(*, idempotency_key: str) -> bool:
    """Whether an outbox job with this idempotency key was ever enqueued."""
    return Job.objects.filter(idempotency_key=idempotency_key).exists()
