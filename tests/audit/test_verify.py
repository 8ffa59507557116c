"""manage.py audit verify: recomputes digests, Merkle roots and the seal chain."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit import integrity
from audit.models import Event, Seal
from audit.services import record, seal_pending

pytestmark = pytest.mark.django_db

Tamper = Callable[[str, str, list[Any]], None]


def _verify() -> str:
    out = io.StringIO()
    call_command("audit", "verify", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _verify_fails() -> tuple[str, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("audit", "verify", stdout=io.StringIO(), stderr=err)
    assert exc.value.returncode == 1
    return str(exc.value), err.getvalue()


@pytest.fixture
def trail() -> dict[str, Any]:
    """Three sealed seals of events plus two unsealed events."""
    events = [record("order.touched", f"order:{i % 3}", data={"i": i}) for i in range(9)]
    seals = seal_pending(batch_size=3)
    unsealed = [record("order.touched", "order:9", data={"i": i}) for i in range(2)]
    return {"events": events, "seals": seals, "unsealed": unsealed}


def test_verify_passes_and_prints_counts(trail: dict[str, Any]) -> None:
    out = _verify()
    assert "OK: 11 events (9 sealed, 2 not sealed yet), 3 seals" in out


def test_verify_on_an_empty_trail_passes() -> None:
    assert "OK: 0 events (0 sealed, 0 not sealed yet), 0 seals" in _verify()


def test_verify_shows_progress_on_long_runs() -> None:
    for i in range(25):
        record("order.touched", "order:1", data={"i": i})
    seal_pending(batch_size=10)
    out = io.StringIO()
    call_command("audit", "verify", "--progress-every", "10", "--chunk-size", "4", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "... 10 events, 1 seals checked, 0 problem(s) so far",
        "... 20 events, 2 seals checked, 0 problem(s) so far",
    ]
    assert "OK: 25 events (25 sealed" in lines[-1]


def test_verify_names_an_event_whose_data_was_edited(trail: dict[str, Any], tamper: Tamper) -> None:
    victim = trail["events"][4]
    tamper(
        "audit_event",
        "UPDATE audit_event SET data = %s WHERE id = %s",
        [json.dumps({"i": 400}), victim.id],
    )
    assert Event.objects.get(pk=victim.id).data == {"i": 400}
    message, err = _verify_fails()
    assert f"first bad event {victim.id}: digest mismatch" in message
    assert f"BAD event {victim.id}" in err


def test_verify_names_an_unsealed_event_whose_data_was_edited(
    trail: dict[str, Any], tamper: Tamper
) -> None:
    victim = trail["unsealed"][1]
    tamper(
        "audit_event",
        "UPDATE audit_event SET actor_id = %s WHERE id = %s",
        ["someone-else", victim.id],
    )
    message, _ = _verify_fails()
    assert f"first bad event {victim.id}: digest mismatch" in message


def test_verify_names_the_seal_when_event_and_digest_were_both_rewritten(
    trail: dict[str, Any], tamper: Tamper
) -> None:
    victim = Event.objects.get(pk=trail["events"][4].id)
    victim.data = {"i": 400}
    forged = victim.compute_digest()
    tamper(
        "audit_event",
        "UPDATE audit_event SET data = %s, digest = %s WHERE id = %s",
        [json.dumps({"i": 400}), forged, victim.id],
    )
    message, _ = _verify_fails()
    seal = trail["seals"][1]
    assert seal.first_id <= victim.id <= seal.last_id
    assert f"first bad seal {seal.id}: merkle root mismatch" in message


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("merkle_root", "ab" * 32, "seal digest mismatch"),
        ("prev_seal_digest", "cd" * 32, "seal digest mismatch"),
        ("count", 2, "seal digest mismatch"),
    ],
)
def test_verify_names_an_edited_seal(
    trail: dict[str, Any], tamper: Tamper, column: str, value: Any, expected: str
) -> None:
    seal = trail["seals"][1]
    sql = f"UPDATE audit_seal SET {column} = %s WHERE id = %s"  # noqa: S608 - fixed columns
    tamper("audit_seal", sql, [value, seal.id])
    message, err = _verify_fails()
    assert f"first bad seal {seal.id}: {expected}" in message
    assert f"BAD seal {seal.id}" in err


def test_verify_catches_a_seal_rewritten_with_a_consistent_digest(
    trail: dict[str, Any], tamper: Tamper
) -> None:
    seal = Seal.objects.get(pk=trail["seals"][1].id)
    seal.merkle_root = "ab" * 32
    tamper(
        "audit_seal",
        "UPDATE audit_seal SET merkle_root = %s, digest = %s WHERE id = %s",
        [seal.merkle_root, seal.compute_digest(), seal.id],
    )
    message, err = _verify_fails()
    assert f"first bad seal {seal.id}: merkle root mismatch" in message
    nxt = trail["seals"][2]
    assert f"BAD seal {nxt.id}: chain broken" in err


def test_verify_catches_a_deleted_sealed_event(trail: dict[str, Any], tamper: Tamper) -> None:
    victim = trail["events"][7]
    tamper("audit_event", "DELETE FROM audit_event WHERE id = %s", [victim.id])
    message, _ = _verify_fails()
    seal = trail["seals"][2]
    assert f"first bad seal {seal.id}: covers 2 events but sealed 3" in message


def test_verify_catches_a_deleted_seal(trail: dict[str, Any], tamper: Tamper) -> None:
    middle = trail["seals"][1]
    tamper("audit_seal", "DELETE FROM audit_seal WHERE id = %s", [middle.id])
    message, _ = _verify_fails()
    last = trail["seals"][2]
    assert f"first bad seal {last.id}: chain broken" in message


def test_verify_names_an_event_inserted_into_a_sealed_gap() -> None:
    first = record("a.b", "order:1")
    kwargs = {
        "occurred_at": timezone.now(),
        "actor_type": "system",
        "actor_id": "system",
        "action": "a.b",
        "target_type": "order",
        "target_id": "1",
    }
    Event(id=first.id + 5, **kwargs).save()
    (seal,) = seal_pending()
    sneaky = Event(id=first.id + 2, **kwargs)
    sneaky.save()  # INSERT is allowed; the seal says this id did not exist
    message, _ = _verify_fails()
    assert f"first bad event {sneaky.id}: recorded into a gap of seal {seal.id}" in message


def test_verify_report_stops_listing_after_max_problems(tamper: Tamper) -> None:
    for i in range(5):
        record("order.touched", "order:1", data={"i": i})
    tamper("audit_event", "UPDATE audit_event SET action = %s", ["x.y"])
    report = integrity.verify(max_problems=2)
    assert report.problem_count == 5 and len(report.problems) == 2
