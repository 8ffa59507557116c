"""``aventide.core.rowsql``: the hot paths' row lock and update build the same instances and
write the same columns as the ORM calls they replace (decision 0020)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from aventide.core import rowsql
from aventide.orders.models import Order, OrderStatus
from tests.orders.conftest import OrderWorld, make_user

pytestmark = pytest.mark.django_db


def _fields(obj: object) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}  # type: ignore[attr-defined]


def test_lock_row_builds_the_instance_the_orm_builds_with_its_join(countries: list[str]) -> None:
    world = OrderWorld("AR")
    order = world.order_in(OrderStatus.FORCE_COMPLETED)  # a JSON column with a value
    expected = Order.objects.select_related("listing").get(pk=order.pk)
    with transaction.atomic():
        with CaptureQueriesContext(connection) as ctx:
            locked = rowsql.lock_row(Order, related=("listing",), pk=order.pk)
            assert locked is not None
            listing = locked.listing  # read in the same statement: no second query
        assert len(ctx.captured_queries) == 1
        sql = ctx.captured_queries[0]["sql"]
        if connection.features.has_select_for_update:
            assert "FOR UPDATE" in sql
    assert _fields(locked) == _fields(expected)
    assert locked.force_evidence_refs == ["courier-ticket-77"]  # converted, not a JSON string
    assert _fields(listing) == _fields(expected.listing)
    assert not locked._state.adding and locked._state.db == "default"
    # A loaded row, like the ORM's: the protected state field refuses direct writes.
    for instance in (locked, expected):
        with pytest.raises(AttributeError, match="Direct status modification"):
            instance.status = OrderStatus.COMPLETED


def test_a_null_foreign_key_in_related_is_cached_as_none(countries: list[str]) -> None:
    order = OrderWorld("AR").new_order()
    assert order.recipient_user_id is None
    with transaction.atomic():
        locked = rowsql.lock_row(Order, related=("recipient_user", "listing"), pk=order.pk)
        assert locked is not None
        with CaptureQueriesContext(connection) as ctx:
            assert locked.recipient_user is None
            assert locked.listing.pk == order.listing_id
        assert ctx.captured_queries == []


def test_lookups_by_any_column_and_no_row(countries: list[str]) -> None:
    world = OrderWorld("AR")
    order = world.new_order()
    with transaction.atomic():
        found = rowsql.lock_row(
            Order, buyer_id=world.buyer.pk, idempotency_key=order.idempotency_key
        )
        assert found is not None and found.pk == order.pk
        assert rowsql.lock_row(Order, pk=order.pk + 10_000) is None
        other = make_user("other.buyer@t.test")
        assert rowsql.lock_row(Order, pk=order.pk, buyer_id=other.pk) is None


def test_read_row_is_the_same_row_without_the_lock(
    countries: list[str],
) -> None:
    order = OrderWorld("AR").order_in(OrderStatus.FORCE_COMPLETED)
    expected = Order.objects.select_related("listing").get(pk=order.pk)
    with CaptureQueriesContext(connection) as ctx:
        read = rowsql.read_row(Order, related=("listing",), pk=order.pk)
        assert read is not None
        listing = read.listing
    assert len(ctx.captured_queries) == 1 and "FOR UPDATE" not in ctx.captured_queries[0]["sql"]
    assert _fields(read) == _fields(expected) and _fields(listing) == _fields(expected.listing)
    assert rowsql.read_row(Order, pk=order.pk + 10_000) is None


def test_an_id_past_the_column_range_is_no_row_and_no_query(countries: list[str]) -> None:
    """Ids come from URLs; PostgreSQL would refuse one past bigint with an error (a 500)."""
    world = OrderWorld("AR")
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        assert rowsql.read_row(Order, pk=2**63) is None
        assert rowsql.lock_row(Order, pk=-(2**63) - 1) is None
        assert rowsql.read_row(Order, pk=1, buyer_id=2**64) is None
    assert [q for q in ctx.captured_queries if "orders_order" in q["sql"]] == []
    assert rowsql.read_row(Order, buyer_id=world.buyer.pk, pk=2**63 - 1) is None


@pytest.mark.django_db(transaction=True)
def test_lock_row_outside_a_transaction_is_refused_without_the_test_wrapper(
    countries: list[str],
) -> None:
    order = OrderWorld("AR").new_order()
    assert not connection.in_atomic_block
    with pytest.raises(TransactionManagementError):
        rowsql.lock_row(Order, pk=order.pk)


def test_update_row_writes_the_fields_with_pre_save_and_checks_the_expected_state(
    countries: list[str],
) -> None:
    order = OrderWorld("AR").new_order()
    before = Order.objects.get(pk=order.pk)
    order.cancel_reason = "changed mind"
    order.recipient_name = "not written"  # not among the fields
    with transaction.atomic():
        # The expected state does not match: nothing is written.
        assert not rowsql.update_row(
            order, ["cancel_reason", "updated_at"], expect={"status": OrderStatus.PAID}
        )
        assert Order.objects.get(pk=order.pk).cancel_reason == before.cancel_reason
        assert rowsql.update_row(
            order, ["cancel_reason", "updated_at"], expect={"status": OrderStatus.PENDING_PAYMENT}
        )
    after = Order.objects.get(pk=order.pk)
    assert after.cancel_reason == "changed mind"
    assert after.recipient_name == before.recipient_name
    assert after.updated_at > before.updated_at  # auto_now applied by pre_save
    assert after.updated_at == order.updated_at  # and set on the instance, like save()
