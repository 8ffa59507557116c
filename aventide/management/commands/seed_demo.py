"""`manage.py seed_demo`: idempotent demo data for development (refused in production)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aventide import demo


class Command(BaseCommand):
    help = "Create or refresh demo countries, users and staff (development only; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo is refused in production (AVENTIDE_ENV=production).")
        demo.seed(self.stdout.write)
        self.stdout.write(self.style.SUCCESS("demo data ready"))
