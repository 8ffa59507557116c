"""``manage.py audit seal|verify|export``: parse args, call the audit services, print."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit import integrity, services
from audit.errors import AuditTargetInvalid
from audit.services import parse_target


class Command(BaseCommand):
    help = (
        "WORM audit trail: `seal` new events, `verify` digests/Merkle roots/seal chain "
        "(exit 1 on the first bad event or seal), `export --target order:42` as JSON lines "
        "with inclusion proofs."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        seal = sub.add_parser("seal", help="Seal all unsealed events now.")
        seal.add_argument("--batch-size", type=int, default=None)
        verify = sub.add_parser("verify", help="Recompute digests, Merkle roots, seal chain.")
        verify.add_argument("--chunk-size", type=int, default=integrity.DEFAULT_CHUNK_SIZE)
        verify.add_argument(
            "--progress-every", type=int, default=50_000, help="Print progress every N events."
        )
        export = sub.add_parser("export", help="Export a target's events with proofs (JSONL).")
        export.add_argument("--target", required=True, help="type:id, e.g. order:42")
        export.add_argument("--output", default=None, help="File to write (default stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        sub = options["subcommand"]
        if sub == "seal":
            self._seal(options)
        elif sub == "verify":
            self._verify(options)
        elif sub == "export":
            self._export(options)

    def _seal(self, options: dict[str, Any]) -> None:
        seals = services.seal_pending(batch_size=options.get("batch_size"))
        events = sum(seal.count for seal in seals)
        if seals:
            self.stdout.write(
                f"sealed {events} events into {len(seals)} seal(s), "
                f"seals {seals[0].id}..{seals[-1].id}, up to event {seals[-1].last_id}"
            )
        else:
            self.stdout.write("nothing to seal")

    def _verify(self, options: dict[str, Any]) -> None:
        def progress(report: integrity.VerifyReport) -> None:
            self.stdout.write(
                f"... {report.events} events, {report.seals} seals checked, "
                f"{report.problem_count} problem(s) so far"
            )

        report = integrity.verify(
            chunk_size=options["chunk_size"],
            progress=progress,
            progress_every=max(int(options["progress_every"]), 1),
        )
        summary = (
            f"{report.events} events ({report.sealed_events} sealed, "
            f"{report.unsealed_events} not sealed yet), {report.seals} seals"
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"OK: {summary}; digests, roots, chain intact"))
            return
        for problem in report.problems:
            self.stderr.write(f"BAD {problem}")
        if report.problem_count > len(report.problems):
            self.stderr.write(f"... and {report.problem_count - len(report.problems)} more")
        first = report.first_problem
        raise CommandError(
            f"audit verify FAILED: first bad {first}; {report.problem_count} problem(s); "
            f"checked {summary}. See docs/operations/audit.md",
            returncode=1,
        )

    def _export(self, options: dict[str, Any]) -> None:
        try:
            target_type, target_id = parse_target(options["target"])
        except AuditTargetInvalid as exc:
            raise CommandError(exc.message, returncode=2) from exc
        path = options.get("output")
        count = 0
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                for line in integrity.export_target(target_type, target_id):
                    fh.write(json.dumps(line, sort_keys=True) + "\n")
                    count += 1
            self.stdout.write(f"exported {count} events of {target_type}:{target_id} to {path}")
            return
        for line in integrity.export_target(target_type, target_id):
            self.stdout.write(json.dumps(line, sort_keys=True))
            count += 1
        if count == 0:
            self.stderr.write(f"no audit events for {target_type}:{target_id}")
