from __future__ import annotations

from django.urls import path

from messaging import api, api_receipts

urlpatterns = [
    path("conversations", api.ConversationsView.as_view(), name="conversations"),
    path(
        "conversations/<int:conversation_id>",
        api.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
    path(
        "conversations/<int:conversation_id>/activate",
        api.ActivateView.as_view(),
        name="conversation-activate",
    ),
    path(
        "conversations/<int:conversation_id>/messages",
        api.MessagesView.as_view(),
        name="conversation-messages",
    ),
    path(
        "orders/<int:order_id>/conversation",
        api.OrderConversationView.as_view(),
        name="order-conversation",
    ),
    path(
        "conversations/<int:conversation_id>/ack",
        api_receipts.AckView.as_view(),
        name="conversation-ack",
    ),
    path(
        "conversations/<int:conversation_id>/reconcile",
        api_receipts.ReconcileView.as_view(),
        name="conversation-reconcile",
    ),
    path(
        "conversations/<int:conversation_id>/report",
        api.ReportView.as_view(),
        name="conversation-report",
    ),
]
