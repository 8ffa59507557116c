"""The project's settings, with the experiment's URL conf and a choice of ASGI app."""

import os

from aventide.settings import *  # noqa: F403

ROOT_URLCONF = "bench.variants.urls"
ASGI_APPLICATION = os.environ.get("BENCH_ASGI_APPLICATION", "aventide.asgi.application")
