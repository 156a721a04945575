"""The canonical bytes of an event are what the definition (Python's json.dumps, sorted keys,
ASCII) writes, whichever encoder wrote them: every stored hash recomputes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.chain import _as_text, canonical_bytes


def definition(event_type: str, fields: dict[str, Any]) -> bytes:
    document = {"event_type": event_type, **fields}
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_as_text
    )
    return text.encode("ascii")


scalars = (
    st.text()  # every code point: control characters, DEL, non-ASCII, lone surrogates
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)  # tiny ones (1e-05) too
    | st.sampled_from([0.0, -0.0, 1e-4, 9.99e-5, 1e16, 1e-7, 0.1, 2.5])
    | st.booleans()
    | st.none()
    | st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30))]))
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=1000, deadline=None)
@given(fields=st.dictionaries(st.text(max_size=12), documents, max_size=8))
def test_canonical_bytes_are_the_definitions(fields: dict[str, Any]) -> None:
    try:
        expected = definition("Chat.UserMessageRecorded", fields)
    except (UnicodeEncodeError, ValueError):  # what the definition refuses stays refused
        with pytest.raises((UnicodeEncodeError, ValueError)):
            canonical_bytes("Chat.UserMessageRecorded", fields)
        return
    assert canonical_bytes("Chat.UserMessageRecorded", fields) == expected


class Role(StrEnum):
    user = "user"


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        {"nested": [1, math.nan]},
        2**64,
        1e-05,
        "\x7f",
        "é",
        "\ud800",
        Role.user,
        (1, "two"),
        datetime(2026, 11, 26, tzinfo=UTC),
    ],
)
def test_values_orjson_would_write_otherwise_take_the_definition(value: Any) -> None:
    fields = {"value": value, "content": "aesgcm:v1:abc", "version": 3}
    try:
        expected = definition("E", fields)
    except ValueError:
        with pytest.raises(ValueError):
            canonical_bytes("E", fields)
        return
    assert canonical_bytes("E", fields) == expected
