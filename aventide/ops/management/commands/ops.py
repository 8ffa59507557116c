"""``manage.py ops alerts [--evaluate] [--since HOURS] [--rules]``: parse, call, print.

- ``ops alerts``: open alerts (firing first, then pending) and those resolved in the last
  ``--since`` hours (24), one line each, then a count line;
- ``--evaluate``: run one evaluation of every rule now (what the beat task does) and print
  its summary line first; exits 1 when a rule failed (after printing everything);
- ``--rules``: the registered rules (severity, ``for``, runbook) instead of the alerts.

Runs as the system; alerts carry no personal data. Further ``ops`` areas (incidents) come
with their issues as more subcommands.
"""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from aventide.ops import selectors, services
from aventide.ops.models import Alert


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


def _value(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:.1f}"


class Command(BaseCommand):
    help = "Ops: `alerts` lists open and recent alerts (--evaluate runs one evaluation now)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="area", required=True)
        alerts = sub.add_parser("alerts", help="Open and recently resolved alerts.")
        alerts.add_argument(
            "--evaluate", action="store_true", help="Evaluate every rule now, then list."
        )
        alerts.add_argument(
            "--since", type=float, default=24.0, help="Resolved in the last N hours (24)."
        )
        alerts.add_argument("--limit", type=int, default=200)
        alerts.add_argument("--rules", action="store_true", help="List the registered rules.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["area"] == "alerts":
            self._alerts(options)

    def _alerts(self, options: dict[str, Any]) -> None:
        if options["rules"]:
            rules = selectors.alert_rules()
            for rule in rules:
                hold = int(rule.for_duration().total_seconds())
                self.stdout.write(
                    f"{rule.name}\t{rule.severity}\tfor={hold}s\t{rule.summary}\t{rule.runbook}"
                )
            self.stdout.write(f"{len(rules)} rule(s)")
            return
        failed: list[str] = []
        if options["evaluate"]:
            report = services.alerts_evaluate()
            failed = report.failed
            self.stdout.write(report.summary())
        since = timezone.now() - timedelta(hours=max(0.0, options["since"]))
        alerts = list(selectors.alerts_open_or_recent(resolved_since=since, limit=options["limit"]))
        for alert in alerts:
            self.stdout.write(self._line(alert))
        firing = sum(1 for a in alerts if a.state == "firing")
        pending = sum(1 for a in alerts if a.state == "pending")
        resolved = len(alerts) - firing - pending
        self.stdout.write(
            f"{firing} firing, {pending} pending, {resolved} resolved in the last"
            f" {_value(options['since'])} h"
        )
        if failed:
            raise CommandError(f"{len(failed)} rule(s) failed to evaluate: {', '.join(failed)}")

    @staticmethod
    def _line(alert: Alert) -> str:
        labels = f"{{{alert.labels_key}}}" if alert.labels_key else ""
        stamps = f"since={_when(alert.started_at)}"
        if alert.fired_at is not None:
            stamps += f" fired={_when(alert.fired_at)}"
        if alert.resolved_at is not None:
            stamps += f" resolved={_when(alert.resolved_at)}"
        return (
            f"{alert.pk}\t{alert.state.upper()}\t{alert.severity}\t{alert.rule}{labels}\t"
            f"value={_value(alert.last_value)}\t{stamps}\t{alert.detail}"
        )
