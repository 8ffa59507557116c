"""Query budgets of the writes: each use case runs a fixed, small number of SQL statements.

Counted inside the test transaction, so each service's frame shows as a SAVEPOINT + RELEASE
pair (2 of the statements; in production they are BEGIN/COMMIT, which Django does not count).
A budget that grows means a lookup crept back into the frame: find it before raising it.
The cancel is the recipe's worked example (docs/development/recipe.md): <= 12 by issue #8.
"""

from __future__ import annotations

import pytest

from aventide.accounts import services as accounts
from aventide.core.principal import SYSTEM
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal
from tests.orders.conftest import PASSWORD, OrderWorld

pytestmark = pytest.mark.django_db


def test_order_cancel_of_a_paid_order_by_its_seller_fits_its_budget(
    world: OrderWorld, django_assert_max_num_queries
) -> None:
    order = world.order_in(OrderStatus.PAID)
    seller = principal(world.seller)
    # lock order, update it, lock escrow (+snapshot), 1 idempotency check, ONE statement for
    # the txn + its entries + the escrow update (PostgreSQL, decision 0016), 2 audit rows,
    # + savepoint pair; + the card refund's outbox job (one INSERT ... ON CONFLICT) and its
    # intent audit row; the realtime event (one statement) and its stream's previous id (one)
    with django_assert_max_num_queries(13):
        cancelled = services.order_cancel(actor=seller, order_id=order.pk, reason="no stock")
    assert cancelled.status == OrderStatus.CANCELLED


def test_order_create_fits_its_budget(world: OrderWorld, django_assert_max_num_queries) -> None:
    buyer = principal(world.buyer)
    # listing, insert order, insert identity, 2 audit rows, the realtime event (one
    # statement) and its stream's previous id (one), the order's conversation and its
    # participants (two), + savepoint pair
    with django_assert_max_num_queries(11):
        services.order_create(actor=buyer, listing_id=world.listing.pk, recipient_name="Ana")
    # + the recipient's account lookup; + the key's lock and lookup; + the invitation's
    # outbox job (one INSERT ... ON CONFLICT) and its intent audit row
    with django_assert_max_num_queries(16):
        services.order_create(
            actor=buyer,
            listing_id=world.listing.pk,
            recipient_name="Ana",
            recipient_email="ana@example.test",
            idempotency_key="key-1",
        )
    assert Order.objects.count() == 2


def test_order_mark_paid_fits_its_budget(world: OrderWorld, django_assert_max_num_queries) -> None:
    order = world.new_order()
    # lock + update order, escrow row create + lock, country policy, snapshot, txn,
    # entries, escrow update, 2 audit rows, the realtime event, + savepoint pair
    with django_assert_max_num_queries(14):
        services.order_mark_paid(actor=SYSTEM, order_id=order.pk, payment_reference="psp-9")


def test_order_complete_with_its_release_fits_its_budget(
    world: OrderWorld, django_assert_max_num_queries
) -> None:
    order = world.order_in(OrderStatus.DELIVERED)
    # (+1: the realtime event, one statement)
    with django_assert_max_num_queries(12):
        services.order_complete(actor=SYSTEM, order_id=order.pk)


def test_login_fits_its_budget(world: OrderWorld, django_assert_max_num_queries) -> None:
    # the lockout subject, the user (password check), the session family + token, savepoints
    with django_assert_max_num_queries(6):
        accounts.login_with_password(email=world.buyer.email, password=PASSWORD, ip="10.0.0.1")
