"""What ``manage.py moderate`` prints: one verdict explained, or a corpus's confusion table.

Pure functions over ``moderate``; the command only parses arguments and prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .engine import moderate
from .types import Action, Reason, Verdict


def explain(text: str, country_code: str) -> list[str]:
    """The verdict, reasons, spans (with the flagged original text) and the normalised form."""
    verdict = moderate(text, country_code=country_code)
    lines = [
        f"verdict: {verdict.action.value}",
        f"reasons: {', '.join(verdict.reasons) or '-'}",
    ]
    for span in verdict.spans:
        lines.append(f"span: {span.start}-{span.end} {span.reason} {text[span.start : span.end]!r}")
    lines.append(f"normalized: {verdict.normalized!r}")
    lines.append(f"redacted: {verdict.redacted_text!r}")
    lines.append(f"fingerprint: {verdict.fingerprint}")
    return lines


@dataclass
class Confusion:
    """Bypass/benign against flagged/allowed, overall and per reason and language."""

    tp: int = 0  # bypass, flagged
    fn: int = 0  # bypass, allowed (a miss)
    fp: int = 0  # benign, flagged (a false alarm)
    tn: int = 0  # benign, allowed
    per_reason: dict[str, list[int]] = field(default_factory=dict)  # reason -> [hit, expected]
    per_lang: dict[str, list[int]] = field(default_factory=dict)  # lang -> [correct, total]
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    invalid: int = 0

    def add(self, row: dict[str, object], verdict: Verdict, line_no: int) -> None:
        bypass = row.get("label") == "bypass"
        flagged = verdict.action != Action.ALLOW
        if bypass and flagged:
            self.tp += 1
        elif bypass:
            self.fn += 1
            self.misses.append(f"line {line_no}: {row.get('note') or ''}".rstrip(": "))
        elif flagged:
            self.fp += 1
            self.false_alarms.append(
                f"line {line_no}: {','.join(verdict.reasons)} {row.get('note') or ''}".rstrip()
            )
        else:
            self.tn += 1
        lang = str(row.get("lang") or "?")
        stats = self.per_lang.setdefault(lang, [0, 0])
        stats[0] += int(bypass == flagged)
        stats[1] += 1
        expected = row.get("reasons") or []
        for reason in expected if isinstance(expected, list) else []:
            hits = self.per_reason.setdefault(str(reason), [0, 0])
            hits[0] += int(reason in verdict.reasons)
            hits[1] += 1

    def lines(self) -> list[str]:
        total = self.tp + self.fn + self.fp + self.tn
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        fpr = self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0
        out = [
            f"messages: {total} (invalid lines skipped: {self.invalid})",
            "                 flagged  allowed",
            f"label bypass   {self.tp:>8} {self.fn:>8}",
            f"label benign   {self.fp:>8} {self.tn:>8}",
            f"recall {recall:.3f}  precision {precision:.3f}  false-positive rate {fpr:.3f}",
        ]
        for reason in Reason:
            if reason.value in self.per_reason:
                hit, expected = self.per_reason[reason.value]
                out.append(f"reason {reason.value}: {hit}/{expected} found")
        for lang, (correct, count) in sorted(self.per_lang.items()):
            out.append(f"lang {lang}: {correct}/{count} correct")
        out.extend(f"miss {m}" for m in self.misses)
        out.extend(f"false alarm {m}" for m in self.false_alarms)
        return out


def confusion(lines: Iterable[str], default_country: str = "AR") -> Confusion:
    """The confusion table of a JSONL corpus (``text``, ``country``, ``label``, ...)."""
    table = Confusion()
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            text = str(row["text"])
        except (ValueError, KeyError, TypeError):
            table.invalid += 1
            continue
        verdict = moderate(text, country_code=str(row.get("country") or default_country))
        table.add(row, verdict, line_no)
    return table
