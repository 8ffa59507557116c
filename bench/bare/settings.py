"""Minimal settings of the bare ceiling app: no middleware, no installed apps, no database."""

from __future__ import annotations

import os

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "bench-bare-view-not-a-secret-000000000000")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1").split(",")]
ROOT_URLCONF = "bench.bare.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
USE_I18N = False
LOGGING_CONFIG = None
