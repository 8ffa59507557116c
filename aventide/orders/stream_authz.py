"""Who may subscribe to ``order:<id>`` (registered with realtime at ``OrdersConfig.ready()``).

Members: the order's buyer, seller and recipient (its user, or its one anonymous identity)
and staff whose scope includes the order's country -- the same rule as reading the order
(``selectors.orders_for`` / ``role_of``). Everyone else, and every id that names no order,
gets ``NOT_ROOM_MEMBER``: an anonymous identity of another order too (``order:`` is a kind an
anonymous recipient uses, for its own order), so the answer never tells which orders exist.
"""

from __future__ import annotations

from aventide.accounts.contracts import ScopeGuard
from aventide.core.principal import Principal
from aventide.orders.models import Role
from aventide.orders.selectors import orders_for, role_of
from realtime.contracts import Stream
from realtime.errors import NotRoomMember

_STAFF_ROLES = frozenset({Role.STAFF_L1, Role.STAFF_L2, Role.STAFF_L3})


def authorize_order_stream(principal: Principal, stream: Stream) -> None:
    """Allow the order's parties and in-scope staff; ``NOT_ROOM_MEMBER`` otherwise. 1 query
    (2 for staff: the scope sub-select is one statement)."""
    order = (
        orders_for(principal)
        .select_related(None)
        .only(
            "pk", "country_code", "buyer_id", "seller_id", "recipient_user_id", "recipient_anon_id"
        )
        .filter(pk=int(stream.key))
        .first()
    )
    if order is None:
        raise NotRoomMember()
    role = role_of(principal, order)
    if role is None:
        raise NotRoomMember()
    if role in _STAFF_ROLES and not ScopeGuard.allows(principal, order.country_code):
        raise NotRoomMember()
