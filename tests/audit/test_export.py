"""manage.py audit export --target order:42: JSON lines with inclusion proofs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from audit import canonical
from audit.merkle import verify_proof
from audit.services import record, seal_pending

pytestmark = pytest.mark.django_db


def _export(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    call_command("audit", "export", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_export_writes_each_event_with_a_proof_that_verifies() -> None:
    ours = []
    for i in range(7):
        ours.append(record("order.touched", "order:42", data={"i": i}, country_code="AR"))
        record("order.touched", "order:7", data={"i": i}, country_code="AR")
    seal_pending(batch_size=5)  # the order's events end up in several seals
    lines = _export("--target", "order:42")
    assert [line["event"]["id"] for line in lines] == [e.id for e in ours]
    seal_ids = set()
    for line, event in zip(lines, ours, strict=True):
        exported = line["event"]
        assert exported["digest"] == event.digest and line["digest_ok"] is True
        fields = {k: v for k, v in exported.items() if k not in ("id", "digest")}
        assert canonical.sha256_hex(canonical.canonical_json(fields)) == event.digest
        assert verify_proof(event.digest, line["proof"], line["seal"]["merkle_root"])
        assert line["seal"]["first_id"] <= event.id <= line["seal"]["last_id"]
        assert isinstance(line["leaf_index"], int)
        seal_ids.add(line["seal"]["id"])
    assert len(seal_ids) > 1


def test_export_marks_unsealed_events_with_a_null_proof() -> None:
    sealed = record("order.created", "order:42")
    seal_pending()
    pending = record("order.paid", "order:42")
    first, second = _export("--target", "order:42")
    assert first["event"]["id"] == sealed.id and first["proof"] is not None
    assert second["event"]["id"] == pending.id
    assert second["proof"] is None and second["seal"] is None
    assert "not sealed yet" in second["note"]


def test_export_to_a_file(tmp_path: Path) -> None:
    record("order.created", "order:42")
    seal_pending()
    path = tmp_path / "order-42.jsonl"
    out = io.StringIO()
    call_command("audit", "export", "--target", "order:42", "--output", str(path), stdout=out)
    assert "exported 1 events of order:42" in out.getvalue()
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    assert verify_proof(line["event"]["digest"], line["proof"], line["seal"]["merkle_root"])


def test_export_of_a_target_without_events_writes_nothing() -> None:
    err = io.StringIO()
    out = io.StringIO()
    call_command("audit", "export", "--target", "order:404", stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert "no audit events for order:404" in err.getvalue()


def test_export_refuses_a_malformed_target() -> None:
    with pytest.raises(CommandError, match="order:42"):
        call_command("audit", "export", "--target", "order")


def test_seal_subcommand_seals_and_reports() -> None:
    record("order.created", "order:1")
    out = io.StringIO()
    call_command("audit", "seal", stdout=out)
    assert "sealed 1 events into 1 seal(s)" in out.getvalue()
    out = io.StringIO()
    call_command("audit", "seal", stdout=out)
    assert "nothing to seal" in out.getvalue()
