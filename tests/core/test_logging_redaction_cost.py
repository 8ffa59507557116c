"""Redaction runs on text clients control (headers, bodies echoed in errors): it must take
linear time on any input, or one hostile log line stalls a worker for minutes (a 20,000-char
run of letters took 5 s before the patterns were anchored; 256 KiB took over 2 minutes).

The timeout is a hang guard for the whole class of input, not a performance target."""

from __future__ import annotations

import pytest

from aventide.core.logging import MAX_REDACTED_CHARS, redact_mapping, redact_text

HOSTILE = {
    "letters": "a" * 1_000_000,
    "dots": "a." * 500_000,
    "slashes": "/" * 1_000_000,
    "dash-slashes": "-/" * 500_000,
    "equals-slashes": "=/" * 500_000,
    "urls": "https://" * 120_000,
    "eq-urls": "=https://" * 110_000,
    "spaced-digits": "1 " * 500_000,
    "digit-dashes": "1-" * 500_000,
    "at-signs": "a@" * 500_000,
    "email-domain": "a@" + "b." * 500_000,
    "bearer": "bearer " * 140_000,
    "jwt-like": "eyJ." * 250_000,
    "kv": "token=" * 160_000,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_redaction_of_hostile_text_takes_linear_time_and_is_cut(name: str) -> None:
    out = redact_text(HOSTILE[name])
    assert len(out) <= 2 * MAX_REDACTED_CHARS  # bounded (markers may be longer than the text)
    assert out.endswith("chars cut]")
    assert redact_mapping({"detail": HOSTILE[name]})["detail"] == out


def test_redaction_still_masks_what_it_masked_near_the_limit() -> None:
    filler = "x " * 8_000
    text = f"{filler}mail ana.perez@example.com, call +54 9 11 4567-8901, GET /api/x?token=abc"
    out = redact_text(text)
    assert "ana.perez@example.com" not in out and "[email]" in out
    assert "4567-8901" not in out and "[phone]" in out
    assert "token=abc" not in out and "/api/x?[REDACTED]" in out
    cut = redact_text("y" * (MAX_REDACTED_CHARS + 10))
    assert cut == "y" * MAX_REDACTED_CHARS + "...[10 chars cut]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://h.example/p?code=1&x=2 now", "see https://h.example/p?[REDACTED] now"),
        ("next=https://h.example/p?q=1", "next=https://h.example/p?[REDACTED]"),
        ('"/api/orders?limit=5"', '"/api/orders?[REDACTED]"'),
        ("(/api/x?y=1)", "(/api/x?[REDACTED]"),
        ("ANA@EXAMPLE.COM wrote", "[email] wrote"),
        ("a.b-c+d@mail.example.org", "[email]"),
        ("tel 11 4567 8901 ok", "tel [phone] ok"),
        ("2026-12-02 10:00", "2026-12-02 10:00"),
    ],
)
def test_redaction_patterns_still_match_real_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected
