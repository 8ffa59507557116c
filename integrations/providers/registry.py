"""Which adapter serves a kind (and country): ``settings.INTEGRATIONS_PROVIDERS``.

The setting maps a kind to a dotted path of an adapter class, or to
``{"default": path, "<COUNTRY>": path}`` where a country differs. Adapter classes are built
once per process with no arguments (they read their own settings). Tests swap one with
``override(kind, adapter)``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from integrations.providers.base import Adapter

_lock = threading.Lock()
_built: dict[str, Adapter] = {}
_overrides: dict[str, Adapter] = {}


class UnknownProvider(LookupError):
    """No adapter is configured for this kind."""


def _path_for(kind: str, country_code: str) -> str:
    configured: dict[str, Any] = getattr(settings, "INTEGRATIONS_PROVIDERS", {})
    entry = configured.get(kind)
    if entry is None:
        raise UnknownProvider(kind)
    if isinstance(entry, str):
        return entry
    path = entry.get(country_code.upper()) or entry.get("default")
    if not path:
        raise UnknownProvider(kind)
    return str(path)


def adapter_for(kind: str, country_code: str = "") -> Adapter:
    """The adapter for ``kind`` in ``country_code`` (``UnknownProvider`` when none)."""
    if kind in _overrides:
        return _overrides[kind]
    path = _path_for(kind, country_code)
    adapter = _built.get(path)
    if adapter is None:
        with _lock:
            adapter = _built.get(path)
            if adapter is None:
                adapter = import_string(path)()
                _built[path] = adapter
    return adapter


def reset() -> None:
    """Forget built adapters (settings changed)."""
    with _lock:
        _built.clear()


@contextmanager
def override(kind: str, adapter: Adapter) -> Iterator[Adapter]:
    """Serve ``kind`` with ``adapter`` inside the block (tests, drills)."""
    previous = _overrides.get(kind)
    _overrides[kind] = adapter
    try:
        yield adapter
    finally:
        if previous is None:
            _overrides.pop(kind, None)
        else:
            _overrides[kind] = previous
