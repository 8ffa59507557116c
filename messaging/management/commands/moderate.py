"""``manage.py moderate "text" --country AR`` | ``manage.py moderate --file corpus.jsonl``.

For staff and ops checking a report: the first prints the verdict, the reasons, each span with
the text it flags, the normalised form, the redacted text and the fingerprint; ``--file``
prints the confusion table of a labelled JSONL corpus (one ``{"text", "country", "label":
"bypass"|"benign", "reasons", "lang", "note"}`` per line) with its misses and false alarms
(by line number and note, never the text). Parse, call messaging.moderation, print.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from messaging.moderation.report import confusion, explain


class Command(BaseCommand):
    help = "Moderate one message (verdict, reasons, spans, normalised form) or a JSONL corpus."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("text", nargs="?", help="The message, quoted.")
        parser.add_argument("--country", default="AR", help="The order's country (AR, MX, BR).")
        parser.add_argument("--file", help="A labelled JSONL corpus: print its confusion table.")

    def handle(self, *args: Any, **options: Any) -> None:
        country = str(options["country"]).upper()
        if options["file"]:
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            with path.open(encoding="utf-8") as corpus:
                table = confusion(corpus, default_country=country)
            for line in table.lines():
                self.stdout.write(line)
            return
        if options["text"] is None:
            raise CommandError('give the message ("text") or --file corpus.jsonl')
        for line in explain(options["text"], country):
            self.stdout.write(line)
