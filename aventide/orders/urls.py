from __future__ import annotations

from django.urls import path

from aventide.orders import api

urlpatterns = [
    path("listings", api.ListingsView.as_view(), name="listings"),
    path("orders", api.OrdersView.as_view(), name="orders"),
    path("orders/<int:order_id>", api.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:order_id>/pay", api.OrderPayView.as_view(), name="order-pay"),
    path("orders/<int:order_id>/accept", api.OrderAcceptView.as_view(), name="order-accept"),
    path("orders/<int:order_id>/dispatch", api.OrderDispatchView.as_view(), name="order-dispatch"),
    path(
        "orders/<int:order_id>/confirm-delivery",
        api.OrderConfirmDeliveryView.as_view(),
        name="order-confirm-delivery",
    ),
    path("orders/<int:order_id>/cancel", api.OrderCancelView.as_view(), name="order-cancel"),
]
