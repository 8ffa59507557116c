"""Domain errors of orders (stable codes; see docs/api/errors.md)."""

from __future__ import annotations

from typing import Any

from aventide.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    """Unknown order, or one the caller may not see (same answer: ids leak nothing)."""

    code = "NOT_FOUND"
    default_message = "Order not found."


class ListingNotFound(NotFound):
    code = "NOT_FOUND"
    default_message = "Listing not found."


class ListingUnavailable(Conflict):
    code = "LISTING_UNAVAILABLE"
    default_message = "This listing is not available any more."


class SellerRequired(Forbidden):
    code = "SELLER_REQUIRED"
    default_message = "Only sellers can publish listings."


class CannotBuyOwnListing(Conflict):
    code = "CANNOT_BUY_OWN_LISTING"
    default_message = "You cannot buy your own listing."


class RecipientInvalid(ValidationFailed):
    code = "RECIPIENT_INVALID"
    default_message = "The recipient must be someone other than the buyer and the seller."


class OrderActionForbidden(Forbidden):
    code = "ORDER_ACTION_FORBIDDEN"
    default_message = "Your role on this order cannot do this."


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"
    status = 409

    def __init__(self, *, transition: str, current_state: str) -> None:
        details: dict[str, Any] = {"transition": transition, "currentState": current_state}
        super().__init__(
            f"Cannot {transition.replace('_', ' ')} an order that is {current_state}.",
            details=details,
        )


class OrderStateConflict(Conflict):
    code = "ORDER_STATE_CONFLICT"
    default_message = "The order changed meanwhile; reload it and try again."


class ForceCompleteInvalid(ValidationFailed):
    code = "FORCE_COMPLETE_INVALID"
    default_message = "Force complete needs a known reason code and at least one evidence ref."


class PaymentEventUnmatched(DomainError):
    """A provider event names an order we do not have, or money that does not match it.
    Never shown to clients: the webhook's processing fails, retries and ends in the DLQ for
    ops (docs/operations/integrations.md)."""

    code = "PAYMENT_EVENT_UNMATCHED"
    status = 422
    default_message = "The provider event does not match an order."
