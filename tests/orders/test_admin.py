"""Staff console for orders: read-only status, transition buttons by level, scoped."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.selectors import events_for_target
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal

from .conftest import OrderWorld, make_staff

pytestmark = pytest.mark.django_db


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_order_admin_shows_force_complete_to_l3_only(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.IN_TRANSIT)
    url = reverse("admin:orders_order_change", args=[order.pk])
    l3_page = staff_client(world.staff["L3"]).get(url)
    assert l3_page.status_code == 200
    assert b"transition-force_complete" in l3_page.content
    assert b"150.00 ARS" in l3_page.content  # staff read amounts, not minor units
    l1_page = staff_client(world.staff["L1"]).get(url)
    assert l1_page.status_code == 200
    assert b"transition-force_complete" not in l1_page.content


def test_order_admin_status_is_read_only_even_for_a_superuser(world: OrderWorld) -> None:
    from aventide.accounts.models import User

    root = User.objects.create_superuser(email="root@t.test", password="x", country_code="AR")
    order = world.order_in(OrderStatus.PAID)
    url = reverse("admin:orders_order_change", args=[order.pk])
    page = staff_client(root).get(url)
    assert page.status_code == 200
    assert b'name="status"' not in page.content
    staff_client(root).post(url, {"status": "completed"})
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_order_admin_force_complete_goes_through_the_service(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.IN_TRANSIT)
    url = reverse("admin:orders_order_transition", args=[order.pk, "force_complete"])
    client = staff_client(world.staff["L3"])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"reason_code": "recipient_unreachable", "evidence_refs": "call-log-1\nphoto-2"}
    )
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FORCE_COMPLETED
    (event,) = [
        e for e in events_for_target("order", str(order.pk)) if e.action == "order.force_completed"
    ]
    assert event.actor_id == str(world.staff["L3"].pk)
    assert event.actor_level == "L3"
    assert event.data["evidenceRefs"] == ["call-log-1", "photo-2"]


def test_order_admin_refuses_a_transition_the_level_does_not_allow(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.IN_TRANSIT)
    url = reverse("admin:orders_order_transition", args=[order.pk, "force_complete"])
    response = staff_client(world.staff["L2"]).post(
        url, {"reason_code": "platform_fault", "evidence_refs": "x"}, follow=True
    )
    assert b"not available for you" in response.content
    assert Order.objects.get(pk=order.pk).status == OrderStatus.IN_TRANSIT


def test_order_admin_cancel_by_l2_refunds(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    url = reverse("admin:orders_order_transition", args=[order.pk, "cancel"])
    response = staff_client(world.staff["L2"]).post(url, {"reason": "fraud check failed"})
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_order_admin_hides_other_countries(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    mx_staff = make_staff("L3", ["MX"], "l3.mx.admin@t.test")
    client = staff_client(mx_staff)
    changelist = client.get(reverse("admin:orders_order_changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == 0
    change = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert change.status_code in (302, 403, 404)
    transition = client.post(
        reverse("admin:orders_order_transition", args=[order.pk, "cancel"]), {"reason": "x"}
    )
    assert transition.status_code == 404
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_listing_admin_action_deactivates_through_the_service(world: OrderWorld) -> None:
    from aventide.orders.models import Listing

    url = reverse("admin:orders_listing_changelist")
    data = {"action": "deactivate", "_selected_action": [world.listing.pk]}
    staff_client(world.staff["L2"]).post(url, data, follow=True)
    assert Listing.objects.get(pk=world.listing.pk).active  # L2 may not
    staff_client(world.staff["L3"]).post(url, data, follow=True)
    assert not Listing.objects.get(pk=world.listing.pk).active
    actions = [e.action for e in events_for_target("listing", str(world.listing.pk))]
    assert actions == ["listing.created", "listing.deactivated"]


def test_listing_set_active_is_scoped(world: OrderWorld) -> None:
    from aventide.orders import services

    mx_l3 = make_staff("L3", ["MX"], "l3.mx.listing@t.test")
    with pytest.raises(Exception) as exc:  # noqa: PT011 -- asserted by code below
        services.listing_set_active(
            actor=principal(mx_l3), listing_id=world.listing.pk, active=False
        )
    assert getattr(exc.value, "code", "") == "SCOPE_VIOLATION"
