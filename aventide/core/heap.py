"""The serving process's start-up heap, frozen out of the garbage collector's sight.

A worker imports Django, DRF, every app's URLconf, models and views: about a million
container objects that live as long as the process. CPython's collector walks every tracked
object on each full (generation 2) collection, and a full collection holds the GIL: measured
in ``bench.send_message`` (16 senders, 2 workers), 110-150 ms during which none of the
process's request threads ran -- the send path's p99, and a share of its p95
(docs/decisions/0022-frozen-startup-heap.md).

``freeze_startup_heap()`` loads the URLconf (so the views are imported now, not by the first
request), collects once, and moves everything that survived into the permanent generation
(``gc.freeze()``): later collections only walk what requests allocate. Garbage cycles made
after it are collected as before; the frozen objects are the process's code and
configuration, never freed anyway.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Import the URLconf, collect, freeze; returns how many objects were frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (imports every app's urls and views)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
