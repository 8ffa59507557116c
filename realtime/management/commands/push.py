"""``manage.py push check | vapid-keys``: parse args, call push helpers, print.

- ``check``: the flag's state, the VAPID pair (a test JWT signed with ``VAPID_PRIVATE_KEY``
  and verified with ``VAPID_PUBLIC_KEY``; the post-rotation check of the runbook) and the
  subscriptions per country. Exits non-zero when push is on and the pair does not verify.
  Prints names, never a key.
- ``vapid-keys``: a new pair, as ``.env`` lines (the only place a private key is printed).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.push import selectors, services, vapid


class Command(BaseCommand):
    help = "Web Push: `check` (flag, VAPID pair, subscriptions per country), `vapid-keys`."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("check", help="Validate the VAPID pair; subscriptions per country.")
        sub.add_parser("vapid-keys", help="Generate a VAPID key pair for .env.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "vapid-keys":
            public, private = vapid.generate_pair()
            self.stdout.write(f"VAPID_PUBLIC_KEY={public}")
            self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
            self.stdout.write("VAPID_SUBJECT=mailto:ops@example.com  # your contact")
            return
        flag = bool(settings.ENABLE_PUSH_NOTIFICATIONS)
        enabled = services.push_enabled()
        self.stdout.write(
            f"ENABLE_PUSH_NOTIFICATIONS={'true' if flag else 'false'}; "
            f"push {'on' if enabled else 'off'}"
        )
        counts = selectors.subscription_counts_by_country()
        self.stdout.write(f"subscriptions: {sum(counts.values())}")
        for country, count in counts.items():
            self.stdout.write(f"  {country}: {count}")
        if not flag:
            self.stdout.write("VAPID pair: not checked (push is switched off)")
            return
        result = vapid.check_pair(
            public_key=str(settings.VAPID_PUBLIC_KEY),
            private_key=str(settings.VAPID_PRIVATE_KEY),
            subject=str(settings.VAPID_SUBJECT),
        )
        if not result.ok:
            raise CommandError(f"VAPID pair: FAILED: {result.problem}")
        self.stdout.write("VAPID pair: OK (a test JWT signed and verified)")
