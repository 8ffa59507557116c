"""ASGI application of the bare ceiling app."""

from __future__ import annotations

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.bare.settings"

from django.core.asgi import get_asgi_application

application = get_asgi_application()
