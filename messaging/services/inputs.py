"""Checks of client input that arrives as raw JSON values (realtime frames, request bodies the
services read themselves): one rule for each, shared by the chat's services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from aventide.core.errors import ValidationFailed
from aventide.core.serializers import MAX_ID
from messaging.errors import ConversationNotFound


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_conversation_id(value: object) -> int:
    """A conversation id as a URL would carry it; anything else answers like an id nobody
    can see (404 ``NOT_FOUND_OR_NO_ACCESS``)."""
    if not is_int(value) or not 0 < value <= MAX_ID:
        raise ConversationNotFound()
    return value


def only_keys(data: object, allowed: frozenset[str]) -> Mapping[str, Any]:
    """The body must be an object without unknown keys: 400 ``VALIDATION_ERROR`` like every
    strict input of the API (docs/api/errors.md)."""
    if not isinstance(data, Mapping):
        raise ValidationFailed(details={"body": ["A JSON object."]})
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise ValidationFailed(details={k: ["Unknown field."] for k in unknown})
    return data
