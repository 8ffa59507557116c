"""Aventide Gift backend: project package and core domain apps.

The Celery app is imported here so `shared_task` binds to it in every process.
"""

from aventide.celery import app as celery_app

__all__ = ["celery_app"]
