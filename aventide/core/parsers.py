"""The project's JSON parser: no request body can turn into a 5xx.

`SafeJSONParser` (``DEFAULT_PARSER_CLASSES``) is djangorestframework-camel-case's parser
(camelCase keys in, snake_case out) with the checks a hostile body needs, each answering 400
``VALIDATION_ERROR`` (or 413 ``PAYLOAD_TOO_LARGE``) in the error contract:

1. **Size** -- a body over the path's limit (`aventide.core.body_limit.max_body_bytes_for`,
   ``API_MAX_BODY_BYTES``) is refused from its ``Content-Length`` before reading, and the
   read itself is bounded (defense in depth behind the ASGI `BodySizeLimitMiddleware`).
2. **Encoding** -- the body must decode with its declared charset (UTF-8 by default); an
   invalid byte sequence or a charset that is not a text encoding is a 400.
3. **Depth** -- arrays/objects nested deeper than ``API_JSON_MAX_DEPTH`` (default 32) are
   refused by `json_depth`, a linear scan that skips string contents, *before* anything
   recursive runs (Python's ``json`` module and the camel-case key conversion both recurse:
   a 1 KB body of ``[`` used to end in ``RecursionError`` and a 500).
4. **Numbers** -- ``NaN``/``Infinity`` (not JSON, RFC 8259) and numbers that overflow a
   float (``1e999999``) are refused; integers longer than Python's conversion limit
   (4300 digits) are refused by ``json`` itself.
5. **Strings** -- a ``\\uD800``-style escape that leaves a lone surrogate is refused: it
   cannot be encoded as UTF-8, so the database or the JSON renderer would fail on it later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from djangorestframework_camel_case.parser import CamelCaseJSONParser
from djangorestframework_camel_case.util import underscoreize

from aventide.core.body_limit import PayloadTooLarge, max_body_bytes_for, too_large_message
from aventide.core.errors import ValidationFailed

DEFAULT_MAX_DEPTH = 32

# One JSON string token, or an unterminated one running to the end of the text. The match at
# an opening quote always succeeds at the end of its greedy loops (closing quote, or end of
# text), so ``sub`` never backtracks into a string: the scan is linear in the body size.
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET_RE = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# An escape that may produce a surrogate code point (paired ones are fine; see _lone_surrogate).
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")

INVALID_JSON = "The request body is not valid JSON."


def json_depth(text: str) -> int:
    """The deepest nesting of arrays/objects in ``text``, brackets inside strings ignored.

    Linear and non-recursive (regex passes in C plus one ``accumulate``), so it is safe on any
    input; it does not validate the JSON (``json.loads`` does that afterwards)."""
    brackets = _NOT_A_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets), initial=0))


def max_json_depth() -> int:
    return max(1, int(getattr(settings, "API_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _is_lone_surrogate_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def has_lone_surrogate(data: Any) -> bool:
    """True when a string (key or value) anywhere in ``data`` holds a lone surrogate.
    Iterative: safe whatever the nesting (the depth is already capped anyway)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _is_lone_surrogate_text(item):
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads_strict(text: str, *, max_depth: int) -> Any:
    """Parse untrusted JSON text, raising `ValidationFailed` for anything refused above."""
    if json_depth(text) > max_depth:
        raise ValidationFailed(
            f"The request body is nested too deeply (at most {max_depth} levels).",
            details={"body": [f"Nesting deeper than {max_depth} levels is not allowed."]},
        )
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # RecursionError: belt and braces, depth is capped
        raise ValidationFailed(INVALID_JSON) from None
    if _SURROGATE_ESCAPE_RE.search(text) and has_lone_surrogate(data):
        raise ValidationFailed(
            "The request body contains an invalid Unicode escape (a lone surrogate).",
            details={"body": ["Strings must be valid Unicode."]},
        )
    return data


class SafeJSONParser(CamelCaseJSONParser):
    """``application/json`` with size, encoding, depth, number and Unicode checks (module
    docstring), then camelCase -> snake_case keys like the library parser."""

    def parse(
        self,
        stream: IO[bytes] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        request = parser_context.get("request")
        limit = max_body_bytes_for(str(getattr(request, "path", "") or ""))
        meta = getattr(request, "META", None) or {}
        declared = str(meta.get("CONTENT_LENGTH") or "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(too_large_message(limit))
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(too_large_message(limit))
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):  # LookupError: charset=hex, rot13, ...
            raise ValidationFailed(
                "The request body is not valid text in its declared charset (use UTF-8)."
            ) from None
        data = loads_strict(text, max_depth=max_json_depth())
        return underscoreize(data, **self.json_underscoreize)
