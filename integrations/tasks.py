"""Celery tasks of the integrations hub: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from integrations import services


@shared_task(name="integrations.run_job", ignore_result=True)
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
