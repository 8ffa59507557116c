"""Settings of the real server processes some tests start: the project's, plus test views."""

from aventide.settings import *  # noqa: F403

ROOT_URLCONF = "tests.ops.server_urls"
