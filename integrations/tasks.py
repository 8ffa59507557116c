"""Celery tasks of the integrations hub: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from integrations import services

# The adapter gets the call timeout in its ``Call``; these limits back it up in prefork
# workers: the soft one raises inside the call (a transient EXECUTOR_ERROR, retried), the
# hard one kills the process (the job's lease expires and dispatch_due re-dispatches it).
_CALL_TIMEOUT = int(settings.INTEGRATIONS_CALL_TIMEOUT_SECONDS + 0.999)


@shared_task(
    name="integrations.run_job",
    ignore_result=True,
    soft_time_limit=_CALL_TIMEOUT + 5,
    time_limit=_CALL_TIMEOUT * 2 + 10,
)
def run_job(job_id: int) -> None:
    """Run one outbox job (nothing happens when it is not due or runs elsewhere)."""
    services.job_run(job_id=job_id)


@shared_task(name="integrations.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Beat, every few seconds: re-queue expired leases, hand due jobs to the broker."""
    return len(services.jobs_dispatch_due().dispatched)


@shared_task(name="integrations.report", ignore_result=True)
def report() -> None:
    """Beat, every minute: backlog, DLQ size and circuit gauges, and their alerts."""
    from integrations import observability

    observability.report()
