"""``manage.py moderate``: one message explained for staff; ``--file`` prints a corpus's
confusion table with its misses and false alarms by line (never the text)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("moderate", *args, stdout=out)
    return out.getvalue()


def test_moderate_command_prints_verdict_reasons_spans_and_normalised_form() -> None:
    output = _run("mi ＷＨＡＴＳ es once 4567-8901", "--country", "AR")  # noqa: RUF001

    assert "verdict: redact" in output
    assert "reasons: CONTACT_PHONE" in output
    assert "span: 12-26 CONTACT_PHONE 'once 4567-8901'" in output
    assert "normalized: 'mi whats es 11 4567-8901'" in output
    assert "redacted: 'mi ＷＨＡＴＳ es [contact removed]'" in output  # noqa: RUF001


def test_moderate_command_file_prints_the_confusion_table(tmp_path: Path) -> None:
    rows = [
        {"text": "mi cel 11 4567-8901", "country": "AR", "label": "bypass", "lang": "es",
         "reasons": ["CONTACT_PHONE"], "note": "plain phone"},
        {"text": "llega el 12/03", "country": "AR", "label": "benign", "lang": "es"},
        {"text": "sale $15.000", "country": "AR", "label": "bypass", "lang": "es",
         "reasons": ["PAYMENT_BYPASS"], "note": "price mislabelled"},
    ]  # fmt: skip
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")

    output = _run("--file", str(corpus))

    assert "messages: 3 (invalid lines skipped: 1)" in output
    assert "label bypass          1        1" in output
    assert "label benign          0        1" in output
    assert "reason CONTACT_PHONE: 1/1 found" in output
    assert "miss line 3: price mislabelled" in output
    assert "$15.000" not in output


def test_moderate_command_needs_text_or_file() -> None:
    with pytest.raises(CommandError, match="give the message"):
        _run()
    with pytest.raises(CommandError, match="no such file"):
        _run("--file", "/nonexistent/corpus.jsonl")
