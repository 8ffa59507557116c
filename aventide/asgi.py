"""ASGI entry point: HTTP (Django) and WebSocket (Channels) on one server."""

from __future__ import annotations

import os

from aventide.core.env import validate_env

validate_env()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # sets Django up before importing routes

from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin allow-list (WS_ALLOWED_ORIGINS); an empty list refuses every browser origin.
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns), settings.WS_ALLOWED_ORIGINS),
    }
)
