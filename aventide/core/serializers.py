"""Strict input serializers: the one place where client input is typed and cleaned.

Every write endpoint's input serializer subclasses `StrictSerializer` and uses these fields,
so the whole class of "the API quietly accepted something odd" is closed in one spot:

- **Unknown keys are refused.** A key the serializer does not declare (a typo such as
  ``priceMinr``, a field the server computes such as ``amountMinor``) answers 400
  ``VALIDATION_ERROR`` with ``details.<thatKey> = ["Unknown field."]``; the renderer turns the
  key back into the camelCase the client sent. Nested strict serializers refuse theirs too.
- **Types are JSON types.** `StrictIntegerField` wants a JSON integer: ``"100"``, ``100.0``
  and ``true`` are refused (DRF would coerce them). `StrictBooleanField` wants ``true`` /
  ``false``; `StrictCharField` and friends want a JSON string (DRF turns ``123`` into
  ``"123"``); `StrictUUIDField` wants the UUID as a string (DRF accepts an integer).
- **Text is normalised, then judged.** `CleanTextField` applies Unicode normalisation (NFC for
  human text, NFKC for identifiers), strips leading/trailing whitespace *and* invisible
  characters (format characters such as zero-width spaces, the BOM, bidi marks, word joiners,
  Hangul fillers, control characters, line/paragraph separators) and only then applies
  ``allow_blank``/``min_length``: a title made only of invisible characters is blank.
  Control characters (and, for single-line fields, line breaks) inside the text are refused.
- **Emails** (`StrictEmailField`, or `CleanTextField(refuse_invisible=True)` where the format
  must not be checked, e.g. login) are NFKC-normalised and refused when they contain an
  invisible character anywhere: ``buy\u200ber@example.com`` is not an email anybody typed.
- **Passwords** stay exactly as typed: `StrictCharField(trim_whitespace=False)` (string type
  only; no normalisation, no trimming).

`StrictSerializerSchema` (an OpenAPI serializer extension) marks request bodies of strict
serializers ``additionalProperties: false`` so the schema says what the server enforces.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import empty

Normalization = Literal["NFC", "NFKC"]

UNKNOWN_FIELD_MESSAGE = "Unknown field."
#: The largest id a BigAutoField holds: a larger id is a validation error, not a database one.
MAX_ID = 2**63 - 1

#: Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) that are not already in
#: category Cf: they render as nothing (Hangul fillers, combining grapheme joiner, Khmer
#: inherent vowels, variation selectors, ...). Plus U+2800 BRAILLE PATTERN BLANK, which is a
#: visible-width blank that clients use to fake "empty" names.
_IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)

#: Invisible characters that extend the visible character before them (emoji presentation
#: selectors, the tag sequences of subdivision flags): kept at the END of a text, where they
#: belong to its last visible character, and stripped only at the start.
_EXTENDER_RANGES: tuple[tuple[int, int], ...] = (
    (0x180B, 0x180D),
    (0x180F, 0x180F),
    (0xFE00, 0xFE0F),
    (0xE0020, 0xE007F),
    (0xE0100, 0xE01EF),
)

_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_MULTILINE_ALLOWED = frozenset({"\n", "\t"})


def _in(ranges: tuple[tuple[int, int], ...], char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in ranges)


def is_invisible(char: str) -> bool:
    """Whitespace, control, format or default-ignorable: renders as nothing (or a blank)."""
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES or _in(_IGNORABLE_RANGES, char)


def _is_extender(char: str) -> bool:
    return _in(_EXTENDER_RANGES, char)


def strip_invisible(text: str) -> str:
    """Strip whitespace and invisible characters from both ends (extenders only at the start)."""
    start, end = 0, len(text)
    while start < end and is_invisible(text[start]):
        start += 1
    while end > start and is_invisible(text[end - 1]) and not _is_extender(text[end - 1]):
        end -= 1
    return text[start:end]


def normalize_text(text: str, *, normalization: Normalization | None = "NFC") -> str:
    """Unicode-normalise (``\\r\\n``/``\\r`` become ``\\n``) and strip invisible ends."""
    if normalization is not None:
        text = unicodedata.normalize(normalization, text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return strip_invisible(text)


def _forbidden_inside(text: str, *, multiline: bool) -> bool:
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" and not (multiline and char in _MULTILINE_ALLOWED):
            return True
        if category in {"Zl", "Zp"} and not multiline:
            return True
    return False


# --- fields ----------------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else (DRF's CharField turns numbers into text)."""

    default_error_messages = {"invalid": "Must be a string."}

    def run_validation(self, data: Any = empty) -> Any:
        if data is not empty and data is not None and not isinstance(data, str):
            self.fail("invalid")
        return super().run_validation(data)


class CleanTextField(StrictCharField):
    """Human text: normalised, invisible ends stripped, blank-after-cleaning refused.

    ``normalization``: ``"NFC"`` (default) for text shown to people (keeps compatibility
    characters such as superscripts), ``"NFKC"`` for identifiers (emails, codes) where
    look-alikes must collapse. ``multiline`` allows line breaks and tabs inside.
    ``refuse_invisible`` refuses invisible characters anywhere (emails) instead of stripping.
    """

    default_error_messages = {
        "control": "Must not contain control characters or line breaks.",
        "invisible": "Must not contain spaces or invisible characters.",
    }

    def __init__(
        self,
        *,
        normalization: Normalization = "NFC",
        multiline: bool = False,
        refuse_invisible: bool = False,
        **kwargs: Any,
    ) -> None:
        self.normalization: Normalization = normalization
        self.multiline = multiline
        self.refuse_invisible = refuse_invisible
        super().__init__(**kwargs)

    def clean_text(self, data: str) -> str:
        if self.refuse_invisible:
            normalized = unicodedata.normalize(self.normalization, data)
            # Ordinary spaces around a pasted value are forgiven; anything invisible is not.
            trimmed = normalized.strip(" \t\n\r")
            if any(is_invisible(char) for char in trimmed):
                self.fail("invisible")
            return trimmed
        cleaned = normalize_text(data, normalization=self.normalization)
        if _forbidden_inside(cleaned, multiline=self.multiline):
            self.fail("control")
        return cleaned

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str):
            data = self.clean_text(data)
        return super().run_validation(data)


class StrictEmailField(serializers.EmailField):
    """An email address: a JSON string, NFKC-normalised, no invisible characters anywhere."""

    default_error_messages = {
        "not_a_string": "Must be a string.",
        "invisible": "Must not contain spaces or invisible characters.",
    }

    def run_validation(self, data: Any = empty) -> Any:
        if data is not empty and data is not None:
            if not isinstance(data, str):
                self.fail("not_a_string")
            data = unicodedata.normalize("NFKC", data).strip(" \t\n\r")
            if any(is_invisible(char) for char in data):
                self.fail("invisible")
        return super().run_validation(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: ``"100"``, ``100.0``, ``1e2`` and booleans are refused."""

    default_error_messages = {"invalid": "Must be a JSON integer (no quotes, no decimals)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: ``"true"``, ``1`` and ``"yes"`` are refused."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a JSON string (DRF also accepts an integer)."""

    default_error_messages = {"not_a_string": "Must be a UUID string."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data.strip())


# --- serializer ------------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer[Any]):
    """Input serializer that refuses keys it does not declare (400 ``VALIDATION_ERROR``).

    The unknown keys are reported next to the other field errors, one entry each, so a client
    sees every problem of its request at once.
    """

    def writable_field_names(self) -> set[str]:
        return {name for name, field in self.fields.items() if not field.read_only}

    def to_internal_value(self, data: Any) -> Any:
        unknown: list[str] = []
        if isinstance(data, Mapping):
            known = self.writable_field_names()
            unknown = [str(key) for key in data if key not in known]
        errors: dict[str, Any] = {}
        value: Any = None
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            if not isinstance(exc.detail, Mapping):
                raise
            errors.update(exc.detail)
        for key in unknown:
            errors[key] = [ErrorDetail(UNKNOWN_FIELD_MESSAGE, code="unknown_field")]
        if errors:
            raise ValidationError(errors)
        return value


class StrictSerializerSchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """OpenAPI: a strict serializer's request body has ``additionalProperties: false``."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


__all__ = [
    "MAX_ID",
    "CleanTextField",
    "StrictBooleanField",
    "StrictCharField",
    "StrictEmailField",
    "StrictIntegerField",
    "StrictSerializer",
    "StrictUUIDField",
    "is_invisible",
    "normalize_text",
    "strip_invisible",
]
