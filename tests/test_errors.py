"""Every error code is reachable, coded, hinted, and leaves nothing half-written."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from chatledger.domain.errors import ErrorCode
from chatledger.domain.input_types import MAX_CONTENT_BYTES
from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import TokenCount
from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.settings import Settings
from tests.conftest import PipelineFactory


def assert_error(result: CommandResult, code: ErrorCode) -> None:
    assert not result.success and result.error is not None, result
    assert result.error.code == code
    assert result.error.message and result.error.recovery_hint


def version_of(pipeline: PersistencePipeline, chat_id: str) -> int:
    return len(list(pipeline.events.get(chat_id)))


def test_unknown_chat_is_chat_not_found(pipeline: PersistencePipeline) -> None:
    assert_error(
        pipeline.persist_user_message("no-such-chat", "alice", "hi"), ErrorCode.CHAT_NOT_FOUND
    )
    assert_error(
        pipeline.persist_assistant_message("no-such-chat", "alice", "hi"), ErrorCode.CHAT_NOT_FOUND
    )
    assert_error(pipeline.open_stream("no-such-chat", "alice"), ErrorCode.CHAT_NOT_FOUND)


def test_another_users_chat_is_unauthorized(pipeline: PersistencePipeline, chat: str) -> None:
    assert_error(pipeline.persist_user_message(chat, "mallory", "hi"), ErrorCode.UNAUTHORIZED)
    assert_error(pipeline.persist_assistant_message(chat, "mallory", "hi"), ErrorCode.UNAUTHORIZED)
    assert_error(pipeline.open_stream(chat, "mallory"), ErrorCode.UNAUTHORIZED)
    assert version_of(pipeline, chat) == 1


def test_starting_a_chat_twice_returns_the_original(
    pipeline: PersistencePipeline, chat: str
) -> None:
    again = pipeline.start_chat(chat, "alice")
    assert again.success and again.duplicate and again.version == 1
    assert_error(pipeline.start_chat(chat, "mallory"), ErrorCode.CONFLICT)
    assert version_of(pipeline, chat) == 1


INVALID_USER_MESSAGES: dict[str, dict[str, Any]] = {
    "parts of an unknown type": {"content": [{"type": "hologram", "data": "AAAA"}]},
    "lone surrogate": {"content": "broken \ud800 text"},
    "huge content": {"content": "x" * (MAX_CONTENT_BYTES + 1)},
    "10 MB content": {"content": "€" * (10 * 1024 * 1024 // 3)},
    "content not a string": {"content": 123},
    "sql in chat id": {"chat_id": "chat'; DROP TABLE stored_events;--"},
    "empty user id": {"user_id": ""},
    "space in message id": {"message_id": "m 1"},
    "metadata not JSON": {"metadata": {"when": {1, 2}}},
    "metadata NaN": {"metadata": {"score": math.nan}},
    "metadata too deep": {"metadata": {"a": [[[[[[[[[["deep"]]]]]]]]]]}},
    "metadata surrogate": {"metadata": {"note": "\udfff"}},
    "metadata too big": {"metadata": {"blob": "y" * 70_000}},
    "metadata like the store's encoding": {
        "metadata": {"when": {"_type_": "datetime_iso", "_data_": "2020-01-01"}}
    },
    "metadata that would not decode": {"metadata": {"_type_": "nope", "_data_": 1}},
    "metadata with a number as a key": {"metadata": {"a": {1: "one", "b": 2}}},
    "personal metadata not an object": {"personal_metadata": ["a list"]},
    "personal metadata too deep": {"personal_metadata": {"a": [[[[[[[[[["deep"]]]]]]]]]]}},
    "personal metadata surrogate": {"personal_metadata": {"note": "\udfff"}},
    "personal metadata too big": {"personal_metadata": {"blob": "y" * 70_000}},
    "personal metadata NaN": {"personal_metadata": {"score": math.nan}},
    "personal metadata with a number as a key": {"personal_metadata": {1: "one"}},
    "context not ids": {"context": {"insights": ["ok", "not ok!"]}},
    "unknown context kind": {"context": {"secrets": ["s1"]}},
}


@pytest.mark.parametrize("case", INVALID_USER_MESSAGES)
def test_invalid_user_message_is_rejected_and_not_recorded(
    pipeline: PersistencePipeline, chat: str, case: str
) -> None:
    fields: dict[str, Any] = {"chat_id": chat, "user_id": "alice", "content": "hello"}
    fields |= INVALID_USER_MESSAGES[case]
    result = pipeline.persist_user_message(**fields)
    assert_error(result, ErrorCode.VALIDATION_ERROR)
    assert result.error is not None and result.error.details["errors"][0]["field"]
    assert "x" * 100 not in str(result.model_dump())  # details name fields, never echo input
    assert version_of(pipeline, chat) == 1


@pytest.mark.parametrize(
    "fields",
    [{"temperature": 3.5}, {"temperature": math.inf}, {"usage": {"input_tokens": -1}},
     {"generation_ms": -5.0}, {"error_code": "lower case"}, {"model": "gpt 4; drop"},
     {"intent": {"name": "x", "confidence": 1.5}}],
)  # fmt: skip
def test_invalid_assistant_message_is_rejected(
    pipeline: PersistencePipeline, chat: str, fields: dict[str, Any]
) -> None:
    result = pipeline.persist_assistant_message(chat, "alice", "reply", **fields)
    assert_error(result, ErrorCode.VALIDATION_ERROR)
    assert version_of(pipeline, chat) == 1


def test_same_message_id_is_recorded_once(pipeline: PersistencePipeline, chat: str) -> None:
    first = pipeline.persist_user_message(chat, "alice", "hello", message_id="m-1")
    retry = pipeline.persist_user_message(chat, "alice", "hello", message_id="m-1")
    assert first.success and retry.success and retry.duplicate and not first.duplicate
    assert (retry.message_id, retry.version, retry.tokens) == (
        first.message_id,
        first.version,
        first.tokens,
    )
    assert version_of(pipeline, chat) == 2


def test_same_idempotency_key_is_recorded_once(pipeline: PersistencePipeline, chat: str) -> None:
    first = pipeline.persist_assistant_message(chat, "alice", "reply", idempotency_key="req-7")
    retry = pipeline.persist_assistant_message(chat, "alice", "reply", idempotency_key="req-7")
    assert retry.duplicate and retry.message_id == first.message_id
    assert version_of(pipeline, chat) == 2


def test_reused_id_for_different_content_is_a_conflict(
    pipeline: PersistencePipeline, chat: str
) -> None:
    assert pipeline.persist_user_message(chat, "alice", "hello", message_id="m-1").success
    assert_error(
        pipeline.persist_user_message(chat, "alice", "changed", message_id="m-1"),
        ErrorCode.CONFLICT,
    )
    assert_error(
        pipeline.persist_assistant_message(chat, "alice", "hello", message_id="m-1"),
        ErrorCode.CONFLICT,
    )
    assert version_of(pipeline, chat) == 2


def test_a_chat_contended_beyond_the_retry_budget_is_a_conflict(
    open_pipeline: PipelineFactory,
) -> None:
    patient, other = open_pipeline(), open_pipeline()
    assert patient.start_chat("c", "alice").success
    record = patient.group_commit.record

    def another_writer_first(events: Sequence[Any]) -> object:
        """Once the patient has decided on the chat as it was, another process appends."""
        assert other.persist_user_message("c", "alice", "first", message_id="m1").success
        return record(events)

    patient.group_commit.record = another_writer_first
    patient.max_attempts = 1  # its append conflicts, and it may not decide again
    result = patient.persist_user_message("c", "alice", "second", message_id="m2")
    assert_error(result, ErrorCode.CONFLICT)
    assert version_of(other, "c") == 2


class BrokenTokenizer:
    def prepare(self, model: str | None) -> None:
        pass

    def count(self, text: str, model: str | None) -> TokenCount:
        raise RuntimeError("tokenizer crashed")


def test_an_unexpected_failure_is_an_internal_error_not_an_exception(
    database_url: str,
) -> None:
    settings = Settings(database_url=database_url)
    pipeline = bootstrap(settings, token_counter=BrokenTokenizer())
    try:
        assert pipeline.start_chat("c", "alice").success
        with capture_logs() as logs:
            result = pipeline.persist_user_message("c", "alice", "hello", message_id="m1")
        assert_error(result, ErrorCode.INTERNAL_ERROR)
        assert logs[0]["exception_type"] == "RuntimeError"
        assert version_of(pipeline, "c") == 1
    finally:
        pipeline.close()
