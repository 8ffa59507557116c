"""``manage.py integrations dlq list|replay|discard``: parse args, call services, print.

Runs as the system principal (L0); every replay and discard is audited by the service.
Filters: ``--kind``, ``--country``, ``--since`` (ISO date/datetime), ``--id`` (repeatable).
``replay`` prints a progress line while it works; ``discard`` requires ``--reason``.
"""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM
from integrations import selectors, services


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since {value!r}: use YYYY-MM-DD or an ISO datetime")
        parsed = datetime(day.year, day.month, day.day)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


class Command(BaseCommand):
    help = "Outbox dead-letter queue: `dlq list`, `dlq replay`, `dlq discard --reason ...`."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="area", required=True)
        dlq = sub.add_parser("dlq", help="The dead-letter queue.")
        actions = dlq.add_subparsers(dest="action", required=True)
        for name in ("list", "replay", "discard"):
            action = actions.add_parser(name)
            action.add_argument("--kind", default=None)
            action.add_argument("--country", default=None)
            action.add_argument("--since", default=None, help="YYYY-MM-DD or ISO datetime")
            action.add_argument("--id", dest="ids", type=int, action="append", default=None)
            action.add_argument("--limit", type=int, default=1000)
            if name == "discard":
                action.add_argument("--reason", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = selectors.dlq_for(
            SYSTEM,
            kind=options["kind"],
            country_code=options["country"],
            since=_since(options["since"]),
            job_ids=options["ids"],
        )
        ids = list(jobs.values_list("pk", flat=True)[: options["limit"]])
        action = options["action"]
        if action == "list":
            for job in jobs.filter(pk__in=ids):
                self.stdout.write(
                    f"{job.pk}\t{job.kind}\t{job.operation}\t{job.country_code}\t"
                    f"attempts={job.attempts}\t{job.last_error_code}\t"
                    f"{job.updated_at.isoformat()}\t{job.idempotency_key}"
                )
            self.stdout.write(f"{len(ids)} dead job(s)")
            return
        if action == "discard" and not str(options["reason"]).strip():
            raise CommandError("--reason is required to discard")
        total, done, failed = len(ids), 0, 0
        for index, job_id in enumerate(ids, start=1):
            try:
                if action == "replay":
                    services.job_replay(actor=SYSTEM, job_id=job_id)
                else:
                    services.job_discard(actor=SYSTEM, job_id=job_id, reason=options["reason"])
                done += 1
            except DomainError as exc:
                failed += 1
                self.stderr.write(f"job {job_id}: {exc.code}")
            if index % 100 == 0 or index == total:
                self.stdout.write(f"... {index}/{total} {action}ed={done} failed={failed}")
        verb = "replayed" if action == "replay" else "discarded"
        self.stdout.write(f"{done} job(s) {verb}, {failed} failed")
