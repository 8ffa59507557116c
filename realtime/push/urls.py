from __future__ import annotations

from django.urls import path

from realtime.push import api

urlpatterns = [
    path("vapid-public-key", api.VapidPublicKeyView.as_view(), name="push-vapid-public-key"),
    path("subscriptions", api.SubscriptionsView.as_view(), name="push-subscriptions"),
    path(
        "subscriptions/<int:subscription_id>",
        api.SubscriptionDetailView.as_view(),
        name="push-subscription-detail",
    ),
]
