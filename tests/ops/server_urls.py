"""The project's URLs plus two probe views for launcher tests (which process, a slow request)."""

from __future__ import annotations

import gc
import os
import time

from django.http import HttpRequest, JsonResponse
from django.urls import path

from aventide.urls import urlpatterns as project_urlpatterns


def which_process(request: HttpRequest) -> JsonResponse:
    # frozen: the start-up heap the garbage collector no longer walks (aventide/core/heap.py)
    return JsonResponse({"pid": os.getpid(), "frozen": gc.get_freeze_count()})


def slow(request: HttpRequest) -> JsonResponse:
    """A sync view busy for ``?seconds=`` (think: a long report), then answering."""
    seconds = float(request.GET.get("seconds", "1"))
    time.sleep(seconds)
    return JsonResponse({"pid": os.getpid(), "slept": seconds})


urlpatterns = [
    path("probe/pid", which_process),
    path("probe/slow", slow),
    *project_urlpatterns,
]
