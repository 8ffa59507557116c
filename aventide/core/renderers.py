"""The API's JSON renderer (``DEFAULT_RENDERER_CLASSES``): camelCase keys out.

djangorestframework-camel-case's renderer rebuilds every response -- a new dict per object,
a regex per key with ``_``, and an ``iter()`` attempt (an exception) per scalar -- even when
the view already answers camelCase, as the chat and the realtime views do: ~1.5% of a chat
send's instructions (bench/instructions.py). This one first checks, without building
anything, whether any key would change; only then does it convert. Same output either way.
"""

from __future__ import annotations

from typing import Any

from djangorestframework_camel_case.render import CamelCaseJSONRenderer as _CamelCaseJSONRenderer
from rest_framework.renderers import JSONRenderer

#: How deep the check looks before it leaves the work to the library (which recurses too).
_MAX_DEPTH = 32


def already_camel(data: Any, depth: int = 0) -> bool:
    """True when camelizing ``data`` would give it back unchanged: dicts whose keys are strings
    without ``_``, lists, and JSON scalars, all the way down. Anything else (tuples, lazy
    translations, bytes, model values...) is left to the library's conversion."""
    if data is None or isinstance(data, str | int | float):  # bool is an int
        return True
    if depth >= _MAX_DEPTH:
        return False
    if isinstance(data, dict):
        for key, value in data.items():
            if type(key) is not str or "_" in key or not already_camel(value, depth + 1):
                return False
        return True
    if isinstance(data, list):
        return all(already_camel(item, depth + 1) for item in data)
    return False


class CamelCaseJSONRenderer(_CamelCaseJSONRenderer):
    """djangorestframework-camel-case's renderer, skipping the rebuild when nothing changes."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if already_camel(data):
            rendered: bytes = JSONRenderer.render(self, data, accepted_media_type, renderer_context)
            return rendered
        converted: bytes = super().render(data, accepted_media_type, renderer_context)
        return converted
