"""``realtime.services.publish``: part of the caller's commit, one event + one inbox row per
audience key, live fan-out only after the commit (batched), best effort."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction

from aventide.core import metrics
from aventide.core.principal import Principal, PrincipalKind
from realtime import selectors, services
from realtime.errors import EventImmutable, PublishOutsideTransaction
from realtime.models import Event, InboxEntry

pytestmark = pytest.mark.django_db

ANON = "anon:2f1c4f4e-4d8b-4bfa-9a41-4c3a8f1f0a11"


class FakeLayer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("redis down")
        self.sent.append((group, message))


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> FakeLayer:
    fake = FakeLayer()
    monkeypatch.setattr("channels.layers.get_channel_layer", lambda *a, **k: fake)
    return fake


def _publish(**overrides: Any) -> int:
    kwargs: dict[str, Any] = {
        "stream": "order:7",
        "type": "order.status_changed",
        "payload": {"orderId": 7, "status": "paid", "from": "pending_payment"},
        "audience": ["user:1", "user:2", ANON, "staff:AR"],
        "country_code": "ar",
    }
    kwargs.update(overrides)
    return services.publish(**kwargs)


def _publish_then_fail(**overrides: Any) -> None:
    with transaction.atomic():
        _publish(**overrides)
        raise RuntimeError("the caller's change failed")


def test_publish_writes_the_event_once_and_one_inbox_row_per_audience_key(layer: FakeLayer) -> None:
    with transaction.atomic():
        event_id = _publish(audience=["user:1", "user:2", "user:1", ANON, "staff:AR"])
    event = Event.objects.get(pk=event_id)
    assert (event.stream, event.type, event.country_code) == (
        "order:7",
        "order.status_changed",
        "AR",
    )
    assert event.payload == {"orderId": 7, "status": "paid", "from": "pending_payment"}
    keys = sorted(
        InboxEntry.objects.filter(event_id=event_id).values_list("audience_key", flat=True)
    )
    assert keys == sorted(["user:1", "user:2", ANON, "staff:AR"])  # the duplicate once
    assert set(InboxEntry.objects.values_list("stream", flat=True)) == {"order:7"}


def test_publish_returns_increasing_cursors(layer: FakeLayer) -> None:
    with transaction.atomic():
        first = _publish()
        second = _publish()
    assert second > first


def test_publish_outside_a_transaction_is_refused_and_writes_nothing(
    layer: FakeLayer, django_db_blocker: Any
) -> None:
    # pytest-django's test transaction is an atomic block; step outside it to autocommit.
    atomic_state = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(PublishOutsideTransaction):
            _publish()
    finally:
        connection.in_atomic_block = atomic_state
    assert Event.objects.count() == 0


def test_publish_sends_live_only_after_commit(
    layer: FakeLayer, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            event_id = _publish()
        assert layer.sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert len(layer.sent) == 1
    group, message = layer.sent[0]
    assert group == "rt.order.7"
    assert message["type"] == "rt.event"
    assert message["audience"] == ["user:1", "user:2", ANON, "staff:AR"]
    frame = message["frame"]
    assert frame["id"] == event_id
    assert (frame["type"], frame["stream"], frame["event"]) == (
        "event",
        "order:7",
        "order.status_changed",
    )
    assert frame["data"] == {"orderId": 7, "status": "paid", "from": "pending_payment"}


def test_publish_batches_the_fanout_of_one_transaction(
    layer: FakeLayer, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        ids = [_publish(stream=f"order:{n}") for n in range(1, 6)]
    assert len(callbacks) == 1  # one after-commit send for the five events
    assert [m["frame"]["id"] for _, m in layer.sent] == ids
    assert [g for g, _ in layer.sent] == [f"rt.order.{n}" for n in range(1, 6)]


def test_publish_rolled_back_writes_nothing_and_sends_nothing(
    layer: FakeLayer, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError, match="failed"),
    ):
        _publish_then_fail()
    assert callbacks == []
    assert layer.sent == []
    assert Event.objects.count() == 0
    assert InboxEntry.objects.count() == 0


def test_publish_in_a_rolled_back_savepoint_is_not_sent_but_the_rest_is(
    layer: FakeLayer, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        kept = _publish(stream="order:1")
        with pytest.raises(RuntimeError, match="failed"):
            _publish_then_fail(stream="order:2")
        also_kept = _publish(stream="order:3")
    assert [m["frame"]["id"] for _, m in layer.sent] == [kept, also_kept]
    assert list(Event.objects.order_by("id").values_list("id", flat=True)) == [kept, also_kept]


def test_publish_a_failing_channel_layer_is_counted_not_raised(
    layer: FakeLayer, django_capture_on_commit_callbacks: Any
) -> None:
    layer.fail = True
    before = metrics.count_of(services.METRIC_FANOUT_FAILED, reason="ConnectionError")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event_id = _publish()
    assert Event.objects.filter(pk=event_id).exists()  # the log is the truth
    after = metrics.count_of(services.METRIC_FANOUT_FAILED, reason="ConnectionError")
    assert after == before + 1


def test_publish_redacts_pii_from_the_payload(layer: FakeLayer) -> None:
    with transaction.atomic():
        event_id = _publish(payload={"orderId": 7, "note": "mail ana@example.test", "token": "x"})
    payload = Event.objects.get(pk=event_id).payload
    assert "ana@example.test" not in str(payload)
    assert payload["token"] != "x"
    assert payload["orderId"] == 7


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "orders:7"),
        ("stream", "order:0"),
        ("audience", ["order:7"]),  # a stream, not an audience key
        ("audience", ["user:abc"]),
        ("type", ""),
    ],
)
def test_publish_refuses_malformed_names(layer: FakeLayer, field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=r"not|must"), transaction.atomic():
        _publish(**{field: value})


def test_published_events_cannot_be_changed(layer: FakeLayer) -> None:
    with transaction.atomic():
        event_id = _publish()
    event = Event.objects.get(pk=event_id)
    event.type = "order.tampered"
    with pytest.raises(EventImmutable):
        event.save()
    with pytest.raises(EventImmutable):
        Event.objects.filter(pk=event_id).update(type="x")
    with (
        pytest.raises((InternalError, ProgrammingError, IntegrityError)),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE realtime_event SET type = 'x' WHERE id = %s", [event_id])
    assert Event.objects.get(pk=event_id).type == "order.status_changed"


@pytest.mark.parametrize("microsecond", [0, 5, 123456])
def test_publish_the_live_frame_is_the_frame_catchup_returns(
    layer: FakeLayer,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    microsecond: int,
) -> None:
    at = datetime(2026, 12, 3, 8, 1, 2, microsecond, tzinfo=UTC)
    monkeypatch.setattr("realtime.services.timezone.now", lambda: at)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _publish(payload={"orderId": 7, "status": "paid", "from": "pending_payment"})
    live = layer.sent[0][1]["frame"]
    buyer = Principal(kind=PrincipalKind.USER, id="1")
    (caught_up,) = selectors.events_for(principal=buyer, since=0, limit=10).events
    assert caught_up == live
    assert live["createdAt"] == at.isoformat().replace("+00:00", "Z")
