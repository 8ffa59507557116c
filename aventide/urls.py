"""Root URLconf: the composition root, allowed to import every app's api module."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aventide.core import handlers
from aventide.core.staticfiles import static_urlpatterns
from aventide.ops import views as ops_views

admin.site.site_header = "Aventide Gift - staff console"
admin.site.site_title = "Aventide staff"

api_patterns: list = [  # type: ignore[type-arg]  # mixed URLPattern/URLResolver
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("auth/", include("aventide.accounts.urls")),
    path("", include("aventide.orders.urls")),
    path("integrations/", include("integrations.urls")),  # /api/integrations/ [webhooks]
    path("realtime/", include("realtime.urls")),  # /api/realtime/catchup [realtime-log]
    path("push/", include("realtime.push.urls")),  # /api/push/ [push]
    path("", include("messaging.urls")),  # /api/conversations, /api/orders/<id>/conversation
]

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # Unknown /api/ paths answer the JSON contract whatever DEBUG says.
    re_path(r"^api/.*$", handlers.api_not_found),
    # Static files for the WSGI entry point and the test client; under ASGI they never get
    # here (aventide.asgi answers them in front of Django).
    *static_urlpatterns(),
]

handler404 = "aventide.core.handlers.handler404"
handler500 = "aventide.core.handlers.handler500"
