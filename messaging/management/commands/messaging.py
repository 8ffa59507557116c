"""``manage.py messaging <subcommand>``: the order chat's operator commands (parse, call,
print; no logic of their own).

- ``blind_check --order N``: per party of the order's conversation, every notification
  decision of the bridge (time, trigger, seq, outcome, channel, unread count, job key) and a
  verdict line: whether any party was left blind (a message after which an offline party got
  no notice -- ``messaging.services.bridge.blind_report``). Exit status 0 when nobody was left
  blind, 2 when someone was; an unknown order (or one without a conversation) is an error
  (exit 1). Prints ids and audience keys, never an address or message text.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from messaging.services import bridge

#: exit status of ``blind_check`` when a party was left blind
EXIT_BLIND = 2


class Command(BaseCommand):
    help = "Order chat operations: `blind_check --order N` (was any party left blind?)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        blind = sub.add_parser(
            "blind_check",
            help="Every notification decision per party of an order's chat, and a verdict.",
        )
        blind.add_argument("--order", type=int, required=True, help="The order's id.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "blind_check":
            self._blind_check(int(options["order"]))

    def _blind_check(self, order_id: int) -> None:
        report = bridge.blind_report(order_id)
        if report is None:
            raise CommandError(f"order {order_id}: no such order, or it has no conversation")
        self.stdout.write(
            f"order {report.order_id} conversation {report.conversation_id} "
            f"state={report.state} last_seq={report.last_seq}"
        )
        for party in report.parties:
            notified = party.last_notified_at.isoformat() if party.last_notified_at else "never"
            self.stdout.write(
                f"\n{party.role} {party.key}: read up to seq {party.read_up_to_seq}, "
                f"last notice {notified}, {len(party.decisions)} decision(s)"
            )
            for d in party.decisions:
                seq = "-" if d.seq is None else str(d.seq)
                self.stdout.write(
                    f"  {d.created_at.isoformat()}  {d.trigger:<10} seq={seq:<5} "
                    f"{d.outcome:<14} channel={d.channel or '-':<5} unread={d.unread_count}"
                    + (f" job={d.job_key}" if d.job_key else "")
                    + (f" ({d.detail})" if d.detail else "")
                )
            for spot in party.blind:
                self.stdout.write(f"  BLIND after seq {spot.seq}: {spot.why}")
        blind = [p for p in report.parties if p.blind]
        if not blind:
            self.stdout.write("\nVERDICT: OK -- nobody was left blind")
            return
        who = "; ".join(
            f"{p.role} {p.key} after seq {', '.join(str(s.seq) for s in p.blind)}" for p in blind
        )
        self.stdout.write(f"\nVERDICT: LEFT BLIND -- {who}")
        raise SystemExit(EXIT_BLIND)
