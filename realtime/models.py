"""Models of this app (filled by later issues)."""

# [push] Web Push subscriptions live in realtime/push (app_label "realtime").
from realtime.push.models import PushSubscription  # noqa: F401
