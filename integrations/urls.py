from __future__ import annotations

from django.urls import path

from integrations import api

urlpatterns = [
    path(
        "webhooks/<str:provider>",
        api.WebhookReceiveView.as_view(),
        name="integrations-webhook-receive",
    ),
]
