"""The orjson transcoder gives back exactly what eventsourcing's JSONTranscoder gives back, for
anything that transcoder wrote: values of every JSON type, its envelopes of datetimes, UUIDs and
decimals at any depth, and what only Python's json reads (NaN, infinities, huge integers)."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.store.json_transcoder import OrjsonTranscoder, _holds_long_number


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


PLAIN, FAST = registered(JSONTranscoder()), registered(OrjsonTranscoder())

text = st.text(st.characters(exclude_categories=["Cs"]))
# Digit runs inside strings, where a number's digits may begin and where they may not.
tricky_text = st.sampled_from([
    '"_type_"', "_type_", "_data_", "1234567890123456789", "\x00", "ab12345678901234567890",
    "e1234567890123456789", " 1234567890123456789", ":12345678901234567890", "-1234567890123456789",
])  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    text,
    tricky_text,
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),
    st.uuids(),
    st.decimals(allow_nan=False),
)
keys = st.one_of(text, tricky_text)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        # Objects shaped like an envelope that the application never registered a type for.
        | st.fixed_dictionaries({"_type_": st.sampled_from(["uuid_hex", "nope"]), "_data_": inner})
    ),
    max_leaves=20,
)


def outcome(transcoder: JSONTranscoder, data: bytes) -> str:
    """The decoded value's repr (types and NaN included), or the exception's type."""
    try:
        return repr(transcoder.decode(data))
    except Exception as error:  # the same failure is part of the contract
        return type(error).__name__


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, max_size=6) | values)
def test_decodes_what_the_json_transcoder_wrote_into_the_same_values(value: Any) -> None:
    try:
        data = PLAIN.encode(value)
    except (TranscodingNotRegisteredError, ValueError):
        return  # what eventsourcing cannot write is never stored
    assert outcome(FAST, data) == outcome(PLAIN, data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":NaN,"b":Infinity,"c":-Infinity}',
        b'{"big":123456789012345678901234567890,"neg":-9223372036854775809}',
        b'{"max":18446744073709551615,"min":-9223372036854775808}',
        b'{"f":0.12345678901234567890123,"e":1e1234567890123456789,"x":[12345678901234567890]}',
        b'{"h":"f12345678901234567890123","n":123456789012345678901}',
        b"12345678901234567890",
        b'{"e":1.5E-12345678901234567890, "s": 12345678901234567890}',
        b'{"s":"\\ud800"}',
        b'{"_type_":"datetime_iso","_data_":"2026-11-26T07:14:07.387598+00:00"}',
        b'[{"_type_":"uuid_hex","_data_":"' + b"0" * 32 + b'"},{"_type_":"x"}]',
        b'{"_type_":"nope","_data_":1}',
        b'{"a":1,"a":2}',
        b"not json",
    ],
)
def test_edge_documents_decode_alike(data: bytes) -> None:
    assert outcome(FAST, data) == outcome(PLAIN, data)


# The rule the scan implements: 19 digits that begin at the start or where a number's can.
LONG_NUMBER = re.compile(rb"(?:\A|[\[:,\s.eE+-])[0-9]{19}")


@settings(max_examples=500)
@given(st.lists(st.sampled_from([b"0", b"9", b"1" * 19, b"2" * 25, b'"', b"a", b"e", b"E", b":",
                                 b",", b"[", b"-", b"+", b".", b" ", b"\t", b"\x0b", b"\xff"]),
                max_size=40).map(b"".join))  # fmt: skip
@example(b'{"prev_hash":"' + b"0" * 64 + b'","n":' + b"1" * 19 + b"}")
@example(b'{"h":"' + b"0" * 64 + b'"}')
def test_the_scan_for_long_numbers_finds_what_the_rule_finds(data: bytes) -> None:
    assert _holds_long_number(data) == (LONG_NUMBER.search(data) is not None)


def test_the_event_store_decodes_with_orjson(pipeline: PersistencePipeline, chat: str) -> None:
    assert isinstance(pipeline.mapper.transcoder, OrjsonTranscoder)
    metadata = {"big": 2**80, "tiny": -(2**70), "ratio": 0.1, "nested": [{"k": "_type_"}]}
    result = pipeline.persist_user_message(chat, "alice", "hello", metadata=metadata)
    assert result.success, result.error
    (event,) = [e for e in pipeline.events.get(chat) if getattr(e, "message_id", None)]
    assert repr(vars(event)["metadata"]) == repr(metadata)


def written(transcoder: JSONTranscoder, value: Any) -> bytes | str:
    """The encoded bytes, or the exception's type."""
    try:
        return transcoder.encode(value)
    except Exception as error:  # the same failure is part of the contract
        return type(error).__name__


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values | st.just("\ud800"), max_size=6) | values)
def test_writes_the_bytes_the_json_transcoder_writes(value: Any) -> None:
    assert written(FAST, value) == written(PLAIN, value)
