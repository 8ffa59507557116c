"""Domain errors of Web Push (stable codes; the error contract renders them)."""

from __future__ import annotations

from http import HTTPStatus

from aventide.core.errors import DomainError, Forbidden, NotFound, ValidationFailed


class PushDisabled(DomainError):
    """``ENABLE_PUSH_NOTIFICATIONS=false`` (or no VAPID keys outside production)."""

    code = "PUSH_DISABLED"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "Push notifications are switched off."


class PushSubscriptionInvalid(ValidationFailed):
    code = "PUSH_SUBSCRIPTION_INVALID"
    default_message = "The push subscription is not valid."


class PushSubscriptionNotFound(NotFound):
    """Unknown subscription, or another principal's (same answer: ids leak nothing)."""

    code = "NOT_FOUND"
    default_message = "Push subscription not found."


class PushSubscriberForbidden(Forbidden):
    code = "PUSH_SUBSCRIBER_FORBIDDEN"
    default_message = "Only a person (an account or a recipient link) can subscribe to push."


class PushNoticeInvalid(ValidationFailed):
    code = "PUSH_NOTICE_INVALID"
    default_message = "The push notice is not valid."
