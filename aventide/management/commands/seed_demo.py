"""`manage.py seed_demo`: idempotent demo data for development (refused in production)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aventide import demo
from integrations.providers import sandbox


def _hold_webhook(provider: str, body: bytes, headers: dict[str, str]) -> None:
    """Seeding brings orders to chosen states through the real services, which book
    shipments and refunds through the outbox: the sandbox's webhooks for them are dropped
    (a "delivered" webhook would move a seeded in-transit order on, and no server listens
    while seeding)."""


class Command(BaseCommand):
    help = "Create or refresh demo countries, users and staff (development only; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo is refused in production (AVENTIDE_ENV=production).")
        with sandbox.use_deliver(_hold_webhook):
            demo.seed(self.stdout.write)
        self.stdout.write(self.style.SUCCESS("demo data ready"))
