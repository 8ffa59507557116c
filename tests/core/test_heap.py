"""freeze_startup_heap: the URLconf is loaded and what exists is frozen (aventide/core/heap.py)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from aventide.core.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting everything, as before


def test_freezes_the_heap_with_the_views_imported(unfrozen: None) -> None:
    frozen = freeze_startup_heap()
    after = gc.get_freeze_count()

    # Frozen objects still die when their last reference goes (a caller's temporaries alive
    # at the freeze): the count may drop a little afterwards, never grow (CPython 3.11.2).
    assert frozen >= after > 10_000
    assert frozen - after < frozen // 100
    assert "messaging.api" in sys.modules  # every app's views, via the URLconf


def test_garbage_made_after_the_freeze_is_still_collected(unfrozen: None) -> None:
    freeze_startup_heap()

    class Node:
        partner: object = None

    a, b = Node(), Node()
    a.partner, b.partner = b, a  # a reference cycle, like a request's view <-> request
    del a, b

    assert gc.collect() >= 2
