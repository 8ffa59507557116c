"""The API renderer answers exactly what djangorestframework-camel-case's would, faster when
the data is already camelCase (aventide/core/renderers.py)."""

from __future__ import annotations

from typing import Any

from djangorestframework_camel_case.render import CamelCaseJSONRenderer as LibraryRenderer
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import ReturnDict

from aventide.core.renderers import CamelCaseJSONRenderer, already_camel

_KEYS = st.sampled_from(["id", "seq", "createdAt", "created_at", "a_b_c", "_x", "x_", "URL", "ñ_a"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(data=_JSON)
def test_the_output_is_the_librarys_byte_for_byte(data: Any) -> None:
    assert CamelCaseJSONRenderer().render(data) == LibraryRenderer().render(data)


def test_camelcase_data_is_not_rebuilt_and_snake_case_still_converts() -> None:
    camel = {"messageId": 1, "moderation": {"verdict": "allow", "reasons": []}, "at": None}
    assert already_camel(camel)
    assert CamelCaseJSONRenderer().render(camel) == (
        b'{"messageId":1,"moderation":{"verdict":"allow","reasons":[]},"at":null}'
    )
    snake = {"results": [{"message_id": 1}]}
    assert not already_camel(snake)
    assert CamelCaseJSONRenderer().render(snake) == b'{"results":[{"messageId":1}]}'


def test_what_the_check_does_not_know_goes_to_the_library() -> None:
    assert not already_camel((1, 2))  # the library turns tuples into lists
    assert not already_camel({1: "a"})  # non-string keys
    assert not already_camel(b"raw")
    serialized: ReturnDict[str, int] = ReturnDict(serializer=serializers.Serializer())
    serialized["last_seq"] = 3
    assert CamelCaseJSONRenderer().render(serialized) == b'{"lastSeq":3}'
