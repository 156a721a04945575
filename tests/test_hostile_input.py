"""Hostile input on every command: only coded results come back, nothing raises, and a rejected
command writes nothing (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chatledger.domain.chain import find_broken_link
from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import MAX_PROVIDER_TOKENS, CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.stream_context import StreamContext
from chatledger.projections.read_side import ReadSide

SQL_METACHARACTERS = ["'; DROP TABLE stored_events; --", '" OR 1=1 --', "chat\x00id", "../../etc"]
nasty_text = st.one_of(
    st.text(max_size=50),
    st.sampled_from(SQL_METACHARACTERS),
    st.just("\ud800 lone"),
    st.just("x" * (10 * 1024 * 1024)),
    st.just("\x00" * 100),
    st.just("🧾" * 1000),
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), nasty_text)
metadata = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=30,
)
anything = st.one_of(
    nasty_text, st.integers(), st.floats(), st.none(), st.lists(json_leaf, max_size=3), metadata,
    st.binary(max_size=10),
)  # fmt: skip
SLOW_IS_FINE = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
    ],
)  # fmt: skip

USER_FIELDS = [
    "chat_id",
    "user_id",
    "content",
    "context",
    "metadata",
    "personal_metadata",
    "message_id",
    "idempotency_key",
]
REPLY_FIELDS = [*USER_FIELDS, "intent", "model", "temperature", "generation_ms", "usage",
                "error_code", "error_message"]  # fmt: skip


def assert_coded(result: CommandResult) -> None:
    assert isinstance(result, CommandResult)
    if not result.success:
        assert result.error is not None
        assert result.error.code.value != "INTERNAL_ERROR", result.error


def event_count(pipeline: PersistencePipeline) -> int:
    return len(pipeline.recorder.select_notifications(1, 1_000_000))


@settings(SLOW_IS_FINE, max_examples=60)
@given(field=st.sampled_from(REPLY_FIELDS), value=anything, assistant=st.booleans())
def test_any_field_of_a_message_command_gets_a_coded_answer(
    pipeline: PersistencePipeline, field: str, value: Any, assistant: bool
) -> None:
    pipeline.start_chat("hostile", "alice")
    fields: dict[str, Any] = {"chat_id": "hostile", "user_id": "alice", "content": "hello"}
    if assistant or field in USER_FIELDS:
        fields[field] = value
    before = event_count(pipeline)
    persist = pipeline.persist_assistant_message if assistant else pipeline.persist_user_message
    result = persist(**fields)
    assert_coded(result)
    assert event_count(pipeline) == before + (1 if result.success and not result.duplicate else 0)


@settings(SLOW_IS_FINE, max_examples=30)
@given(chat_id=anything, user_id=anything, title=anything, model=anything)
def test_starting_a_chat_with_anything_gets_a_coded_answer(
    pipeline: PersistencePipeline, chat_id: Any, user_id: Any, title: Any, model: Any
) -> None:
    assert_coded(pipeline.start_chat(chat_id, user_id, title=title, model=model))


@settings(SLOW_IS_FINE, max_examples=30)
@given(chunk=nasty_text, error_code=anything, usage=anything, prompt=anything, personal=anything)
def test_streams_and_prompt_counting_get_coded_answers(
    pipeline: PersistencePipeline, chunk: str, error_code: Any, usage: Any, prompt: Any,
    personal: Any,
) -> None:  # fmt: skip
    pipeline.start_chat("hostile", "alice")
    opened = pipeline.open_stream("hostile", "alice")
    assert opened.stream is not None
    opened.stream.add_chunk(chunk)
    assert_coded(pipeline.complete_stream(opened.stream, usage=usage))
    assert_coded(pipeline.fail_stream(opened.stream, error_code))
    before = event_count(pipeline)
    hostile = pipeline.open_stream("hostile", "alice", personal_metadata=personal)
    assert_coded(hostile)
    assert event_count(pipeline) == before + (1 if hostile.success else 0)
    stream = pipeline.open_stream("hostile", "alice").stream
    assert stream is not None
    stream.add_chunk(chunk)
    closes: list[Callable[[StreamContext], CommandResult]] = [
        lambda s: pipeline.complete_stream(s, personal_metadata=personal),
        lambda s: pipeline.fail_stream(s, "E", personal_metadata=personal),
    ]
    for close in closes:  # a refused close writes nothing; after one that is not, not open
        before = event_count(pipeline)
        result = close(stream)
        assert_coded(result)
        assert event_count(pipeline) == before + (1 if result.success else 0)
    forged = StreamContext(chunk if isinstance(chunk, str) else "x", "alice", "m", None)
    assert_coded(pipeline.complete_stream(forged))
    assert_coded(pipeline.count_prompt_tokens(prompt if isinstance(prompt, list) else [prompt]))


def nested(levels: int, kind: type[dict[str, Any]] | type[list[Any]]) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value} if kind is dict else [value]
    return value


NOT_JSON: list[Any] = [
    nested(100_000, dict), nested(100_000, list), {"s": {1, 2}}, {"b": b"x"},
    {"d": datetime.now(UTC)}, {"dec": Decimal("1.1")}, {"o": object()}, {"n": float("nan")},
    {"i": float("-inf")}, {(1, 2): 1}, {"u": uuid4()}, {"t": (1, 2)}, {"big": 10**400},
    {"neg": -(2**70)}, {"_type_": "x", "_data_": 1}, "not a dict", ["a", "list"], 42,
]  # fmt: skip


@pytest.mark.parametrize("field", ["metadata", "personal_metadata", "context", "intent", "usage"])
def test_deep_or_non_json_structures_are_refused_or_stay_readable(
    pipeline: PersistencePipeline,
    open_pipeline: Callable[..., PersistencePipeline],
    open_read_side: Callable[..., ReadSide],
    field: str,
) -> None:
    """Whatever a structured field is given, the answer is coded; what is accepted can be read
    back by a new process, keeps the chain intact and projects into every read model."""
    pipeline.start_chat("hostile", "alice")
    for value in NOT_JSON:
        before = event_count(pipeline)
        result = pipeline.persist_assistant_message("hostile", "alice", "hi", **{field: value})
        assert_coded(result)
        assert event_count(pipeline) == before + (1 if result.success else 0)
    fresh = open_pipeline()
    events = list(fresh.events.get("hostile"))
    assert find_broken_link("hostile", events) is None
    read_side = open_read_side(fresh, catch_up_on_read=False)
    read_side.catch_up()
    assert not any(status.lag for status in read_side.status())


@settings(SLOW_IS_FINE, max_examples=40)
@given(field=st.sampled_from([*REPLY_FIELDS, "role"]), value=anything, whole=anything)
@example(field="role", value=["user"], whole=[None])  # an unhashable role: INTERNAL_ERROR once
def test_batches_and_imports_answer_anything_with_codes_all_or_nothing(
    pipeline: PersistencePipeline, field: str, value: Any, whole: Any
) -> None:
    """A hostile field in one item of a batch or an import, or anything in place of the whole
    list: a coded answer, and a refused batch or import writes none of its messages."""
    pipeline.start_chat("hostile", "alice")
    item = {"role": "assistant", "content": "hello", field: value}
    fine = {"role": "user", "content": "fine"}
    chats = [{"chat_id": "imported", "messages": [fine]},
             {"chat_id": "imported-2", "title": value, "messages": [item]}]  # fmt: skip
    attempts: list[Callable[[], CommandResult]] = [
        lambda: pipeline.persist_messages("hostile", "alice", [fine, item]),
        lambda: pipeline.import_chats("alice", chats),
        lambda: pipeline.persist_messages("hostile", "alice", whole),
        lambda: pipeline.import_chats("alice", whole),
        lambda: pipeline.import_chats("alice", [{"chat_id": whole, "messages": [item]}]),
    ]
    for attempt in attempts:
        before = event_count(pipeline)
        result = attempt()
        assert_coded(result)
        if not result.success:
            assert event_count(pipeline) == before


@pytest.mark.parametrize("tokens", [2**63, 10**30, MAX_PROVIDER_TOKENS + 1, -1])
def test_provider_token_counts_that_no_read_model_could_hold_are_refused(
    pipeline: PersistencePipeline, read_side: ReadSide, tokens: int
) -> None:
    """A count of 2**63 was accepted, and then every projection stopped at its event for good
    (OverflowError on SQLite, bigint out of range on PostgreSQL): one message blocked the
    read side. Now it is a VALIDATION_ERROR, and the largest count accepted projects."""
    pipeline.start_chat("hostile", "alice")
    for field in ("input_tokens", "output_tokens"):
        usage = {field: tokens}
        refused = pipeline.persist_assistant_message("hostile", "alice", "hi", usage=usage)
        assert refused.error is not None and refused.error.code == ErrorCode.VALIDATION_ERROR
        largest = {field: MAX_PROVIDER_TOKENS}
        assert pipeline.persist_assistant_message("hostile", "alice", "hi", usage=largest).success
    opened = pipeline.open_stream("hostile", "alice")
    assert opened.stream is not None
    refused = pipeline.complete_stream(opened.stream, usage={"input_tokens": tokens})
    assert refused.error is not None and refused.error.code == ErrorCode.VALIDATION_ERROR
    read_side.catch_up()
    assert not any(status.lag for status in read_side.status())
    stats = read_side.get_message_persistence_stats("alice").stats
    assert stats is not None
    assert (stats.tokens_provider_input, stats.tokens_provider_output) == (MAX_PROVIDER_TOKENS,) * 2
