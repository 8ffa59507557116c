"""``manage.py realtime stats|purge|check-catchup``: parse args, call the realtime app, print.

- ``stats``: events, inbox rows, oldest and newest cursor, how far the purge went, the purge
  backlog (events past retention still stored) and any registered extras (connections).
- ``purge``: run the retention purge now (the beat task does it hourly).
- ``check-catchup``: the post-rotation check (docs/operations/realtime.md): an authenticated
  ``GET /api/realtime/catchup`` against a running server. Prints OK/FAIL; exit code 0 when
  it passed, 1 when it failed. The credentials come from the environment
  (``REALTIME_CHECK_TOKEN``, or ``REALTIME_CHECK_ANON_ID`` + ``REALTIME_CHECK_ANON_SIGNATURE``)
  or ``--token`` (visible in the process list: prefer the environment).
"""

from __future__ import annotations

import os
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from realtime import checks, selectors, services


class Command(BaseCommand):
    help = "Realtime event log: `stats`, `purge`, `check-catchup --base-url URL`."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("stats", help="Size and retention state of the event log.")
        purge = sub.add_parser("purge", help="Delete events older than the retention now.")
        purge.add_argument("--batch", type=int, default=None)
        check = sub.add_parser("check-catchup", help="Authenticated catchup on a live server.")
        check.add_argument("--base-url", default="http://127.0.0.1:8000")
        check.add_argument("--token", default=None, help="A JWT (prefer REALTIME_CHECK_TOKEN)")
        check.add_argument("--timeout", type=float, default=5.0)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "stats":
            self._stats()
        elif action == "purge":
            from django.conf import settings

            result = services.purge_expired(batch=options["batch"] or settings.REALTIME_PURGE_BATCH)
            self.stdout.write(
                f"purged {result.events} event(s), {result.inbox_rows} inbox row(s); "
                f"purged up to #{result.purged_upto}"
            )
        else:
            self._check(options)

    def _stats(self) -> None:
        stats = selectors.log_stats()
        oldest_at = stats.oldest_event_at.isoformat() if stats.oldest_event_at else "-"
        lines = [
            f"events\t{stats.events}",
            f"inbox_rows\t{stats.inbox_rows}",
            f"oldest_cursor\t{stats.oldest_cursor}",
            f"oldest_event_at\t{oldest_at}",
            f"head_cursor\t{stats.head}",
            f"purged_upto\t{stats.purged_upto}",
            f"purge_backlog\t{stats.purge_backlog}",
            *(f"{name}\t{value}" for name, value in sorted(stats.extras.items())),
        ]
        self.stdout.write("\n".join(lines))

    def _check(self, options: dict[str, Any]) -> None:
        headers = checks.auth_headers(
            token=options["token"] or os.environ.get("REALTIME_CHECK_TOKEN", ""),
            anon_id=os.environ.get("REALTIME_CHECK_ANON_ID", ""),
            anon_signature=os.environ.get("REALTIME_CHECK_ANON_SIGNATURE", ""),
        )
        if not headers:
            raise CommandError(
                "no credentials: set REALTIME_CHECK_TOKEN (a JWT), or REALTIME_CHECK_ANON_ID "
                "and REALTIME_CHECK_ANON_SIGNATURE, or pass --token"
            )
        result = checks.check_catchup(
            base_url=options["base_url"], headers=headers, timeout=options["timeout"]
        )
        for step in result.steps:
            self.stdout.write(f"  {step}")
        if result.ok:
            self.stdout.write("OK realtime catchup")
            return
        self.stdout.write("FAIL realtime catchup")
        sys.exit(1)
