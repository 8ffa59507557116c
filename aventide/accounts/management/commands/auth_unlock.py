"""Lift a login lockout: ``manage.py auth_unlock --email maria@example.com --ip 203.0.113.7``.

``--whole-ip`` also lifts the IP's block (many accounts tried from it); ``--whole-account`` also
ends the account's under-attack mode (failures from many IPs). Audited as
``auth.lockout_cleared`` by the system principal, naming the operator given by ``--operator``
(required) in the event's data.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aventide.accounts import services
from aventide.core.context import bound_context
from aventide.core.principal import SYSTEM


class Command(BaseCommand):
    help = "Lift the login lockout of one (email, IP) pair, optionally the whole IP."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--ip", required=True, help="The client IP that is locked out.")
        parser.add_argument("--whole-ip", action="store_true", help="Also lift the IP block.")
        parser.add_argument(
            "--whole-account",
            action="store_true",
            help="Also end the account's under-attack mode (its failures from every IP).",
        )
        parser.add_argument("--operator", required=True, help="Who does this (for the audit).")

    def handle(self, *args: Any, **options: Any) -> None:
        with bound_context(principal=SYSTEM):
            services.login_lockout_clear(
                actor=SYSTEM,
                operator=options["operator"],
                email=options["email"],
                ip=options["ip"],
                whole_ip=options["whole_ip"],
                whole_account=options["whole_account"],
            )
        self.stdout.write("lockout cleared")
