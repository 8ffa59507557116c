"""Read-only integrity checks and evidence export of the audit trail.

``verify`` recomputes every event digest, every seal's Merkle root and digest and the seal
chain, streaming events in id order (keyset pages, never the whole table in memory).
``export_target`` yields one JSON-ready record per event of a target with its inclusion proof.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit import canonical, merkle
from audit.models import GENESIS_DIGEST, Event, Seal
from audit.selectors import events_for_target, seal_covering

DEFAULT_CHUNK_SIZE = 2_000


@dataclass(frozen=True)
class Problem:
    kind: str  # "event" | "seal"
    id: int
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.id}: {self.message}"


@dataclass
class VerifyReport:
    events: int = 0
    sealed_events: int = 0
    seals: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def unsealed_events(self) -> int:
        return self.events - self.sealed_events

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def iter_events(
    *, after_id: int = 0, up_to_id: int | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[Event]:
    """Events with ``after_id < id (<= up_to_id)`` in id order, fetched in keyset pages."""
    last = after_id
    while True:
        qs = Event.objects.filter(id__gt=last).order_by("id")
        if up_to_id is not None:
            qs = qs.filter(id__lte=up_to_id)
        page = list(qs[:chunk_size])
        if not page:
            return
        yield from page
        last = page[-1].id


def iter_seals(*, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[Seal]:
    last = 0
    while True:
        page = list(Seal.objects.filter(id__gt=last).order_by("id")[:chunk_size])
        if not page:
            return
        yield from page
        last = page[-1].id


def _in_gaps(event_id: int, gaps: list[list[int]]) -> bool:
    return any(first <= event_id <= last for first, last in gaps)


def _seal_gaps(seal: Seal) -> list[list[int]]:
    try:
        return [[int(a), int(b)] for a, b in (seal.gaps or [])]
    except (TypeError, ValueError):
        return []


def verify(
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[VerifyReport], None] | None = None,
    progress_every: int = 10_000,
    max_problems: int = 50,
) -> VerifyReport:
    """Check the whole trail; the report lists problems in id order (first = first bad).

    Event: its stored digest must equal the digest recomputed from its fields; it must lie in
    its seal's range and not in one of the seal's gaps (else it was inserted after sealing).
    Seal: its digest must match its fields; ``prev_seal_digest`` must be the previous seal's
    digest (the first one: ""); ranges must follow each other without overlap; the Merkle root
    and count recomputed over the stored digests of the events in its range must match.
    """
    report = VerifyReport()

    def problem(kind: str, ident: int, message: str) -> None:
        report.problem_count += 1
        if len(report.problems) < max_problems:
            report.problems.append(Problem(kind, ident, message))

    def check_event(event: Event) -> None:
        report.events += 1
        if event.compute_digest() != event.digest:
            problem("event", event.id, "digest mismatch: the row was changed after it was written")
        if progress is not None and report.events % progress_every == 0:
            progress(report)

    prev_digest = GENESIS_DIGEST
    prev_seal_id: int | None = None
    expected_first = 1
    after = 0
    for seal in iter_seals(chunk_size=chunk_size):
        report.seals += 1
        if seal.compute_digest() != seal.digest:
            problem("seal", seal.id, "seal digest mismatch: the seal row was changed")
        if seal.prev_seal_digest != prev_digest:
            what = f"seal {prev_seal_id}'s digest" if prev_seal_id else "the genesis value ''"
            problem("seal", seal.id, f"chain broken: prev_seal_digest does not match {what}")
        if seal.first_id != expected_first:
            problem(
                "seal",
                seal.id,
                f"range starts at event {seal.first_id}, expected {expected_first}",
            )
        gaps = _seal_gaps(seal)
        digests: list[str] = []
        for event in iter_events(after_id=after, up_to_id=seal.last_id, chunk_size=chunk_size):
            check_event(event)
            if event.id < seal.first_id:
                problem("event", event.id, "not covered by any seal")
            elif _in_gaps(event.id, gaps):
                problem(
                    "event",
                    event.id,
                    f"recorded into a gap of seal {seal.id} (committed after sealing or "
                    "inserted by hand)",
                )
            else:
                digests.append(event.digest)
        report.sealed_events += len(digests)
        if len(digests) != seal.count:
            problem(
                "seal",
                seal.id,
                f"covers {len(digests)} events but sealed {seal.count}: "
                "events were deleted or inserted after sealing",
            )
        elif merkle.merkle_root(digests) != seal.merkle_root:
            problem("seal", seal.id, "merkle root mismatch: the sealed events or root changed")
        prev_digest, prev_seal_id = seal.digest, seal.id
        after = max(after, seal.last_id)
        expected_first = seal.last_id + 1
    for event in iter_events(after_id=after, chunk_size=chunk_size):
        check_event(event)
    return report


def event_record(event: Event) -> dict[str, Any]:
    """The exported form of an event: every hashed field (canonical form) + id and digest."""
    payload = canonical.event_payload(**event.digest_fields())
    return {"id": event.id, **payload, "digest": event.digest}


def seal_record(seal: Seal) -> dict[str, Any]:
    payload = canonical.seal_payload(
        first_id=seal.first_id,
        last_id=seal.last_id,
        count=seal.count,
        merkle_root=seal.merkle_root,
        prev_seal_digest=seal.prev_seal_digest,
        gaps=_seal_gaps(seal),
        created_at=seal.created_at,
    )
    return {"id": seal.id, **payload, "digest": seal.digest}


UNSEALED_NOTE = (
    "not sealed yet: events are sealed every minute (or run `manage.py audit seal`); "
    "export again to get its proof"
)


def _seal_leaves(seal: Seal, chunk_size: int) -> tuple[list[int], list[str]]:
    gaps = _seal_gaps(seal)
    ids: list[int] = []
    digests: list[str] = []
    for event in iter_events(
        after_id=seal.first_id - 1, up_to_id=seal.last_id, chunk_size=chunk_size
    ):
        if not _in_gaps(event.id, gaps):
            ids.append(event.id)
            digests.append(event.digest)
    return ids, digests


def export_target(
    target_type: str, target_id: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[dict[str, Any]]:
    """One record per event of the target, oldest first:
    ``{"event": {...}, "digest_ok": bool, "seal": {...} | None, "proof": [...] | None,
    "leaf_index": int | None, "note"?: str}``.

    A third party checks an event with ``canonical.event_digest`` (fields -> digest) and
    ``merkle.verify_proof(digest, proof, seal["merkle_root"])``; the seal chain with
    ``audit verify`` on the database or by following ``prev_seal_digest``.
    """
    cache: dict[int, tuple[Seal, dict[int, int], list[list[merkle.ProofStep]]]] = {}
    for event in events_for_target(target_type, target_id).iterator(chunk_size=chunk_size):
        out: dict[str, Any] = {
            "event": event_record(event),
            "digest_ok": event.compute_digest() == event.digest,
        }
        cached = (c[0] for c in cache.values() if c[0].first_id <= event.id <= c[0].last_id)
        seal = next(cached, None) or seal_covering(event.id)
        entry = None
        if seal is not None:
            if seal.id not in cache:
                ids, digests = _seal_leaves(seal, chunk_size)
                cache[seal.id] = (
                    seal,
                    {eid: i for i, eid in enumerate(ids)},
                    merkle.inclusion_proofs(digests),
                )
            entry = cache[seal.id]
        if entry is not None and event.id in entry[1]:
            index = entry[1][event.id]
            out.update(seal=seal_record(entry[0]), proof=entry[2][index], leaf_index=index)
        else:
            out.update(seal=None, proof=None, leaf_index=None, note=UNSEALED_NOTE)
            if seal is not None:
                out["note"] = f"inside a gap of seal {seal.id}: recorded after sealing"
        yield out
