"""Hostile input over every field that roles, parts, tool calls and generation facts brought, on
every backend: a coded VALIDATION_ERROR that names the field, nothing half-written, never a
traceback; and what is accepted comes back as it was sent."""

from __future__ import annotations

import base64
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatledger.domain.chat import Chat
from chatledger.domain.content_parts import MAX_INLINE_BYTES
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline

CHAT, OWNER = "hostile-1", "mallory"
ROLES = ["system", "developer", "user", "assistant", "tool"]
HUGE = base64.b64encode(b"\0" * (MAX_INLINE_BYTES + 1)).decode()

# (fields, the field the error must name)
NAMED_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown role": ({"role": "wizard", "content": "hi"}, "role"),
    "role of another type": ({"role": ["user"], "content": "hi"}, "role"),
    "tool message without tool_call_id": ({"role": "tool", "content": "42"}, "tool_call_id"),
    "tool_call_id that is no id": (
        {"role": "tool", "content": "42", "tool_call_id": "call 1; DROP"}, "tool_call_id"),
    "malformed tool-call arguments": ({"role": "assistant", "tool_calls": [
        {"id": "call_1", "function": {"name": "f", "arguments": "{not json"}}]},
        "tool_calls.0.arguments"),
    "tool-call arguments as an object": ({"role": "assistant", "tool_calls": [
        {"id": "call_1", "function": {"name": "f", "arguments": {"a": 1}}}]},
        "tool_calls.0.arguments"),
    "two tool calls with one id": ({"role": "assistant", "tool_calls": [
        {"id": "c", "name": "f", "arguments": "{}"}, {"id": "c", "name": "g", "arguments": "{}"}]},
        "tool_calls"),
    "invalid base64": ({"role": "user", "content": [
        {"type": "image", "data": "not*base64", "media_type": "image/png"}]},
        "content.parts.0.data"),
    "a data URL that is not base64": ({"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]},
        "content.parts.0.data"),
    "oversized inline part": ({"role": "user", "content": [{"type": "image", "data": HUGE}]},
                              "content.parts.0.data"),
    "part of unknown type": ({"role": "user", "content": [{"type": "hologram", "data": "AAAA"}]},
                             "content.parts.0.type"),
    "part with two sources": ({"role": "user", "content": [
        {"type": "image", "data": "AAAA", "url": "https://x.example/a.png"}]}, "content.parts.0"),
    "stated hash that does not match": ({"role": "user", "content": [
        {"type": "image", "data": "AAAA", "sha256": "0" * 64}]}, "content.parts.0"),
    "URL that is not http": ({"role": "user", "content": [
        {"type": "image", "url": "file:///etc/passwd"}]}, "content.parts.0.url"),
    "media type that is not one": ({"role": "user", "content": [
        {"type": "file", "data": "AAAA", "media_type": "text plain\n"}]},
        "content.parts.0.media_type"),
    "text part with a lone surrogate": ({"role": "user", "content": [
        {"type": "text", "text": "broken \ud800"}]}, "content.parts.0.text"),
    "no parts at all": ({"role": "user", "content": []}, "content.parts"),
    "unknown finish reason shape": (
        {"role": "assistant", "content": "x", "finish_reasons": ["Stop Now"]}, "finish_reasons.0"),
    "top_p out of range": ({"role": "assistant", "content": "x", "top_p": 1.5}, "top_p"),
    "seed beyond 64 bits": ({"role": "assistant", "content": "x", "seed": 2**64}, "seed"),
    "tool calls on a user message": (
        {"role": "user", "content": "x", "tool_calls": []}, "tool_calls"),
}  # fmt: skip


@pytest.fixture
def chat(pipeline: PersistencePipeline) -> str:
    assert pipeline.start_chat(CHAT, OWNER, model="gpt-4o").success
    return CHAT


def record(pipeline: PersistencePipeline, message: dict[str, Any], message_id: str) -> Any:
    fields = {k: v for k, v in message.items() if k != "role"}
    role: Any = message.get("role")  # hostile: not always a text
    return pipeline.persist_message(CHAT, OWNER, role, message_id=message_id, **fields)


def versions(pipeline: PersistencePipeline) -> int:
    return len(list(pipeline.events.get(CHAT)))


@pytest.mark.parametrize("case", sorted(NAMED_CASES))
def test_each_bad_field_is_named_and_nothing_is_recorded(
    pipeline: PersistencePipeline, chat: str, case: str
) -> None:
    message, field = NAMED_CASES[case]
    result = record(pipeline, message, "m-1")
    assert result.error is not None and result.error.code == ErrorCode.VALIDATION_ERROR
    named = [e["field"] for e in result.error.details["errors"]]
    assert field in named, named
    assert versions(pipeline) == 1
    rendered = result.model_dump_json()
    assert "not json" not in rendered and "passwd" not in rendered  # input never echoed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
ids = st.text(alphabet=string.ascii_letters + string.digits + "_-. ;", min_size=0, max_size=12)
parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "audio", "file", "image_url", "input_audio",
                              "document", "video", ""])},
    optional={
        "text": st.text(max_size=20) | json_values,
        "data": st.sampled_from(["", "AAAA", "iVBORw0KGgo=", "@@", "A" * 5]) | json_values,
        "url": st.sampled_from(["https://a.example/x.png", "data:image/png;base64,AAAA", "x"]),
        "media_type": st.sampled_from(["image/png", "PNG", "", "a/b/c"]),
        "image_url": json_values | st.fixed_dictionaries({"url": st.text(max_size=30)}),
        "source": json_values,
    },
)  # fmt: skip
tool_calls = st.lists(
    st.fixed_dictionaries({}, optional={
        "id": ids, "name": ids, "type": st.sampled_from(["function", "tool", 3]),
        "arguments": st.sampled_from(["{}", '{"a": [1, 2]}', "{", "", "null"]) | json_values,
        "function": st.fixed_dictionaries({}, optional={"name": ids, "arguments": json_values}),
    }),
    max_size=3,
)  # fmt: skip
messages = st.fixed_dictionaries(
    {"role": st.sampled_from([*ROLES, "wizard", "", "User"]) | json_values},
    optional={
        "content": st.text(max_size=30) | st.lists(parts, max_size=3) | json_values,
        "tool_calls": tool_calls | json_values,
        "tool_call_id": ids | json_values,
        "name": ids,
        "finish_reasons": st.lists(st.sampled_from(["stop", "length", "Stop", ""]), max_size=3),
        "refusal": st.text(max_size=10) | json_values,
        "top_p": st.floats(allow_nan=True) | json_values,
    },
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=messages)
def test_any_message_is_recorded_whole_or_refused_by_name(
    pipeline: PersistencePipeline, chat: str, message: dict[str, Any]
) -> None:
    before = versions(pipeline)
    result = record(pipeline, message, f"h-{before}")
    if result.success:
        assert versions(pipeline) == before + 1
        event = list(pipeline.events.get(CHAT))[-1]
        assert isinstance(event, Chat.MessageEvent) and event.role == message["role"]
        return
    assert result.error is not None
    assert result.error.code == ErrorCode.VALIDATION_ERROR, result.error
    assert all(e["field"] for e in result.error.details.get("errors", [{"field": "role"}]))
    assert versions(pipeline) == before
    json.dumps(result.model_dump(mode="json"))  # the answer is JSON, whatever came in
