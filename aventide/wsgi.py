"""WSGI entry point (HTTP only; production serves ASGI)."""

from __future__ import annotations

import os

from aventide.core.env import validate_env

validate_env()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
