"""Webhook signatures: our header and Stripe's share one construction; rotation; staleness."""

from __future__ import annotations

import time

import pytest
import stripe

from integrations.signing import SignatureInvalid, sign, verify

BODY = b'{"id":"evt_1","type":"payment.captured"}'


def test_a_signed_body_verifies_and_returns_its_timestamp() -> None:
    header = sign(BODY, secret="s1", timestamp=1_700_000_000)
    assert verify(BODY, header, secrets=["s1"], now=1_700_000_010) == 1_700_000_000


def test_rotation_the_first_secret_signs_every_secret_verifies() -> None:
    old = sign(BODY, secret="old")
    assert verify(BODY, old, secrets=["new", "old"]) > 0
    with pytest.raises(SignatureInvalid):
        verify(BODY, old, secrets=["new"])


@pytest.mark.parametrize(
    ("header", "body", "reason"),
    [
        (None, BODY, "missing or oversized header"),
        ("", BODY, "missing or oversized header"),
        ("t=1," + "v1=ab," * 400, BODY, "missing or oversized header"),
        ("v1=abc", BODY, "malformed header"),
        ("t=abc,v1=abc", BODY, "malformed timestamp"),
        ("t=NOW", BODY, "malformed header"),
        ("GOOD", BODY + b" ", "no matching signature"),
    ],
)
def test_bad_headers_are_refused_with_a_reason(
    header: str | None, body: bytes, reason: str
) -> None:
    now = int(time.time())
    if header == "GOOD":
        header = sign(BODY, secret="s1", timestamp=now)
    elif header is not None:
        header = header.replace("NOW", str(now))
    with pytest.raises(SignatureInvalid) as exc:
        verify(body, header, secrets=["s1"], now=now)
    assert exc.value.reason == reason


def test_a_stale_or_future_timestamp_is_refused_at_the_tolerance() -> None:
    header = sign(BODY, secret="s1", timestamp=1_000_000)
    assert verify(BODY, header, secrets=["s1"], now=1_000_300) == 1_000_000  # the limit itself
    for now in (1_000_301, 999_699):
        with pytest.raises(SignatureInvalid, match="stale"):
            verify(BODY, header, secrets=["s1"], now=now)


def test_no_configured_secret_refuses_everything() -> None:
    with pytest.raises(SignatureInvalid, match="no secret"):
        verify(BODY, sign(BODY, secret="s1"), secrets=[])


def test_stripe_signed_events_verify() -> None:
    """Stripe's library builds the same ``t=..,v1=..`` header (signed payload ``t.body``)."""
    now = int(time.time())
    header = sign(BODY, secret="whsec_test", timestamp=now)
    event = stripe.Webhook.construct_event(BODY.decode(), header, "whsec_test")
    assert event["id"] == "evt_1"
