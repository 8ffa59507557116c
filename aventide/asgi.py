"""ASGI entry point: HTTP (Django) and WebSocket (Channels) on one server.

HTTP: files under STATIC_URL are answered by the static app in front of Django (no
middleware, no thread); every other request runs Django's middleware chain and view in one
hop on this process's ASGI_THREADS sync threads (docs/decisions/0009-asgi-path.md).
"""

from __future__ import annotations

import os
from typing import Any

from aventide.core.env import validate_env

validate_env()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from aventide.core.asgi_runtime import get_asgi_handler  # noqa: E402

django_asgi_app = get_asgi_handler(settings.ASGI_THREADS)  # sets Django up before the routes

from aventide.core.body_limit import BodySizeLimitMiddleware  # noqa: E402
from aventide.core.staticfiles import StaticFilesApp  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402


class StrictOriginValidator(OriginValidator):
    """Channels' Origin allow-list, refusing (not crashing on) an Origin it cannot parse: a
    malformed port (``http://host:8000.evil``) made the stock validator raise ValueError --
    an error log per attempt instead of a quiet 403 handshake refusal."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        try:
            return bool(super().valid_origin(parsed_origin))
        except ValueError:
            return False


application = ProtocolTypeRouter(
    {
        # Static files are served beside Django; request bodies over API_MAX_BODY_BYTES
        # answer 413 before they are read.
        "http": StaticFilesApp(BodySizeLimitMiddleware(django_asgi_app)),
        # Origin allow-list (WS_ALLOWED_ORIGINS); an empty list refuses every browser origin.
        "websocket": StrictOriginValidator(
            URLRouter(websocket_urlpatterns), settings.WS_ALLOWED_ORIGINS
        ),
    }
)
