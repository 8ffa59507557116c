"""The product's ASGI app with Django's stock ASGIHandler instead of the one-hop handler."""

from __future__ import annotations

import os

from aventide.core.env import validate_env

validate_env()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.variants.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from aventide.core.body_limit import BodySizeLimitMiddleware  # noqa: E402
from aventide.core.staticfiles import StaticFilesApp  # noqa: E402

application = StaticFilesApp(BodySizeLimitMiddleware(django_app))
