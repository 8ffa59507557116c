"""Realtime events of orders: every status change (and the creation) is published to the
order's stream ``order:<id>``, in the transition's own transaction (a transition hook, see
``services.register_transition_hook``; registered in ``OrdersConfig.ready``).

Audience (one inbox row each): the buyer, the seller, the recipient (their account, or the
anonymous identity the order's link carries) and, for status changes, the staff queue of the
order's country (``staff:<CC>``). Payload: ``{orderId, status, from}`` -- ids and states only;
clients read the order (``GET /api/orders/<id>``) for the rest, under the usual privacy rules.
"""

from __future__ import annotations

from aventide.orders.models import Order
from realtime import services as realtime
from realtime.contracts import anon_key, staff_key, user_key

EVENT_CREATED = "order.created"
EVENT_STATUS_CHANGED = "order.status_changed"


def party_keys(order: Order) -> list[str]:
    """The audience keys of the order's parties (no query: ids are on the row)."""
    keys = [user_key(order.buyer_id), user_key(order.seller_id)]
    if order.recipient_user_id is not None:
        keys.append(user_key(order.recipient_user_id))
    elif order.recipient_anon_id is not None:
        keys.append(anon_key(order.recipient_anon_id))
    return keys


def publish_order_event(order: Order, transition: str, from_state: str) -> None:
    """The transition hook: ``transition`` is ``create`` or a transition name."""
    if transition == "create":
        realtime.publish_last(
            stream=f"order:{order.pk}",
            type=EVENT_CREATED,
            payload={"orderId": order.pk, "status": order.status},
            audience=party_keys(order),
            country_code=order.country_code,
        )
        return
    realtime.publish_last(
        stream=f"order:{order.pk}",
        type=EVENT_STATUS_CHANGED,
        payload={"orderId": order.pk, "status": order.status, "from": from_state},
        audience=[*party_keys(order), staff_key(order.country_code)],
        country_code=order.country_code,
    )
