from __future__ import annotations

from django.urls import path

from realtime import api

urlpatterns = [
    path("catchup", api.CatchupView.as_view(), name="realtime-catchup"),
]
