"""The commit tail (decision 0021): in a use-case frame that owns its transaction, the
realtime publish -- which holds the global ordering lock to the commit -- is sent together
with the COMMIT, in one round trip. Everything else about the transaction stays as it was:
all or nothing, on-commit effects after the commit only, savepoints and foreign
transactions untouched, and no reader ever skips an event (the lock still orders commits).

Real PostgreSQL, real transactions (``transaction=True``), real threads for the ordering."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from aventide.accounts.usecase import use_case
from aventide.core import committail
from aventide.core.principal import SYSTEM, Principal, PrincipalKind
from realtime import selectors, services
from realtime.models import Event, InboxEntry
from tests.concurrency import WAIT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

READER = Principal(kind=PrincipalKind.USER, id="1")


class FakeLayer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> FakeLayer:
    fake = FakeLayer()
    monkeypatch.setattr("channels.layers.get_channel_layer", lambda *a, **k: fake)
    monkeypatch.setattr("aventide.core.aftercommit.background_enabled", lambda: False)
    return fake


def _publish_last(stream: str = "order:7", **payload: Any) -> None:
    services.publish_last(
        stream=stream, type="order.status_changed", payload=payload, audience=["user:1"]
    )


def _tail_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "realtime_publish" in q["sql"]]


def test_the_publish_goes_with_the_commit_and_the_live_frame_carries_its_id(
    layer: FakeLayer,
) -> None:
    with transaction.atomic():
        first = services.publish(stream="order:7", type="t.first", payload={}, audience=["user:1"])
    with CaptureQueriesContext(connection) as captured, use_case(SYSTEM):
        _publish_last(status="paid")
        assert Event.objects.count() == 1  # deferred: not written yet
    sql = _tail_queries(captured)
    assert len(sql) == 1 and sql[0].rstrip().endswith("COMMIT"), sql
    event = Event.objects.latest("id")
    assert event.payload == {"status": "paid"} and event.id > first
    assert list(InboxEntry.objects.filter(event=event).values_list("audience_key", flat=True)) == [
        "user:1"
    ]
    (message,) = [m for _, m in layer.sent if m["frame"]["id"] == event.id]
    assert message["prev"] == first  # the stream's previous event, read after the lock


def test_a_frame_whose_body_fails_publishes_nothing(layer: FakeLayer) -> None:
    def failing_service() -> None:
        with use_case(SYSTEM):
            _publish_last(status="paid")
            raise RuntimeError("the service's check failed after the publish")

    with pytest.raises(RuntimeError):
        failing_service()
    assert Event.objects.count() == 0 and layer.sent == []
    with use_case(SYSTEM):  # the connection is clean for the next frame
        _publish_last(status="paid")
    assert Event.objects.count() == 1


def test_a_failing_tail_rolls_the_whole_frame_back(layer: FakeLayer) -> None:
    """A statement of the tail fails: the frame's earlier writes roll back with it, nothing
    goes live, and the connection serves the next frame."""
    seen: list[Any] = []

    def service_with_a_failing_tail() -> None:
        with use_case(SYSTEM):
            services.publish(stream="order:8", type="t.now", payload={}, audience=["user:1"])
            _publish_last(status="paid")
            assert committail.defer("SELECT 1 / %s", [0], seen.append)

    with pytest.raises(DatabaseError):
        service_with_a_failing_tail()
    assert Event.objects.count() == 0 and InboxEntry.objects.count() == 0
    assert seen == [] and layer.sent == []
    with use_case(SYSTEM):
        _publish_last(status="shipped")
    assert list(Event.objects.values_list("payload", flat=True)) == [{"status": "shipped"}]


def test_a_publish_inside_a_savepoint_runs_at_once_and_rolls_back_with_it(
    layer: FakeLayer,
) -> None:
    with use_case(SYSTEM):
        try:
            with transaction.atomic():
                _publish_last("order:1", status="paid")
                assert Event.objects.count() == 1  # run now: the savepoint must undo it
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        _publish_last("order:2", status="paid")
    assert list(Event.objects.values_list("stream", flat=True)) == ["order:2"]
    assert [message["frame"]["stream"] for _, message in layer.sent] == ["order:2"]


def test_a_frame_inside_a_foreign_transaction_publishes_now_and_commits_with_it(
    layer: FakeLayer,
) -> None:
    """A frame that joins a transaction it did not open (the admin's change view) cannot
    commit it: its publish runs at once, and the owner's rollback undoes it."""
    captured_sql: list[str] = []

    def view_owning_the_transaction() -> None:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as captured, use_case(SYSTEM):
                _publish_last(status="paid")
            assert Event.objects.count() == 1
            captured_sql.extend(_tail_queries(captured))
            raise RuntimeError("the owner of the transaction fails")

    with pytest.raises(RuntimeError):
        view_owning_the_transaction()
    assert len(captured_sql) == 1 and "COMMIT" not in captured_sql[0]
    assert Event.objects.count() == 0 and layer.sent == []


def test_concurrent_frames_commit_in_cursor_order_and_a_polling_reader_skips_nothing(
    layer: FakeLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 threads x 25 frames publish with the COMMIT (some with a slow statement after the
    publish) while a reader pages through the log from its cursor the whole time: the
    reader ends with every event exactly once, in id order -- an event committed behind the
    reader's cursor would be missing."""
    deferred: list[bool] = []
    real_defer = committail.defer

    def counting_defer(*args: Any, **kwargs: Any) -> bool:
        done = real_defer(*args, **kwargs)
        deferred.append(done)
        return done

    monkeypatch.setattr(committail, "defer", counting_defer)
    writers_done = threading.Event()
    errors: list[BaseException] = []
    received: list[int] = []

    def write(n: int) -> None:
        try:
            for i in range(25):
                with use_case(SYSTEM):
                    _publish_last(f"order:{n + 1}", i=i)
                    # a slow end of the tail, between the event's id and the COMMIT: without
                    # the ordering lock a later id would commit first and the reader skip
                    committail.defer("SELECT pg_sleep(%s)", [0.002 * (i % 3)], lambda row: None)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)
        finally:
            connection.close()

    def read() -> None:
        cursor = 0
        try:
            for _ in range(int(WAIT * 100)):  # bounded; ends once the writers are done
                last_round = writers_done.is_set()
                page = selectors.events_for(principal=READER, since=cursor, limit=500)
                for frame in page.events:
                    received.append(int(frame["id"]))
                    cursor = int(frame["id"])
                if last_round and not page.events:
                    return
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    writers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(8)]
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(WAIT)
    writers_done.set()
    reader.join(WAIT)
    assert not errors, errors
    in_db = list(Event.objects.order_by("id").values_list("id", flat=True))
    assert len(in_db) == 200 and deferred.count(True) == 400
    assert received == in_db, sorted(set(in_db) - set(received))


def test_an_audit_row_recorded_at_commit_travels_with_the_commit_and_rolls_back_with_the_frame(
    layer: FakeLayer,
) -> None:
    """``audit.record_at_commit``: in a frame the INSERT is sent with the COMMIT (the tail
    also carries a statement without a result set, the bridge's decisions), the event gets
    its id when the frame commits and says exactly what ``record`` would; a failing frame
    leaves no row. Outside a frame it is ``record``."""
    from audit import services as audit
    from audit.models import Event as AuditEvent
    from aventide.orders.audit_actions import OrderAction

    with CaptureQueriesContext(connection) as captured, use_case(SYSTEM):
        event = audit.record_at_commit(OrderAction.ACCEPTED, ("order", 41), data={"a": 1})
        assert committail.defer("CREATE TEMP TABLE tail_rowless (x int)", [], lambda row: None)
        assert event.pk is None and not AuditEvent.objects.filter(target_id="41").exists()
        _publish_last(status="accepted")
    tails = [q["sql"] for q in captured.captured_queries if q["sql"].rstrip().endswith("; COMMIT")]
    assert len(tails) == 1 and "audit_event" in tails[0] and "tail_rowless" in tails[0], tails
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.target_id, stored.data) == ("order.accepted", "41", {"a": 1})
    assert stored.digest == event.digest

    def failing_change() -> None:
        with use_case(SYSTEM):
            audit.record_at_commit(OrderAction.ACCEPTED, ("order", 42))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert not AuditEvent.objects.filter(target_id="42").exists()

    with transaction.atomic():  # no frame: written at once
        now = audit.record_at_commit(OrderAction.ACCEPTED, ("order", 43))
        assert now.pk is not None
