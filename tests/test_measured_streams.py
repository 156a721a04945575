"""Streams closed from figures a client measured (MeasuredStream): what the HTTP API records."""

from __future__ import annotations

import pytest

from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.stream_context import MeasuredStream


def opened_id(pipeline: PersistencePipeline, chat: str, **fields: object) -> str:
    result = pipeline.open_stream(chat, "alice", **fields)  # type: ignore[arg-type]
    assert result.success and result.message_id, result.error
    return result.message_id


def last_event(pipeline: PersistencePipeline, chat_id: str) -> object:
    return list(pipeline.events.get(chat_id))[-1]


def test_complete_records_the_client_figures_and_the_opening_model(
    pipeline: PersistencePipeline, chat: str
) -> None:
    message_id = opened_id(pipeline, chat, model="gpt-4")  # the chat's model is gpt-4o
    stream = MeasuredStream(chat, "alice", message_id, chunk_count=3, first_chunk_ms=120.5,
                            duration_ms=900.0)  # fmt: skip

    result = pipeline.complete_stream(stream, "Hello there")

    assert result.success, result.error
    event = last_event(pipeline, chat)
    assert isinstance(event, Chat.StreamCompleted)
    assert (pipeline.content_of(event), event.chunk_count) == ("Hello there", 3)
    assert (event.first_chunk_ms, event.duration_ms) == (120.5, 900.0)
    assert event.tokens["encoding"] == "cl100k_base"  # gpt-4's, as opened; not the chat's


def test_without_a_duration_the_time_since_the_opening_is_recorded(
    pipeline: PersistencePipeline, chat: str
) -> None:
    message_id = opened_id(pipeline, chat)
    stream = MeasuredStream(chat, "alice", message_id, chunk_count=1, first_chunk_ms=1.0)

    assert pipeline.complete_stream(stream, "ok").success
    event = last_event(pipeline, chat)
    assert isinstance(event, Chat.StreamCompleted)
    assert 0.0 <= event.duration_ms < 60_000


def test_failure_keeps_the_partial_reply_the_client_relayed(
    pipeline: PersistencePipeline, chat: str
) -> None:
    message_id = opened_id(pipeline, chat)
    stream = MeasuredStream(chat, "alice", message_id, chunk_count=2, first_chunk_ms=5.0,
                            duration_ms=50.0, content="Half a rep")  # fmt: skip

    assert pipeline.fail_stream(stream, "PROVIDER_TIMEOUT").success
    event = last_event(pipeline, chat)
    assert isinstance(event, Chat.StreamFailed)
    assert (pipeline.content_of(event), event.chunk_count, event.error_code) == (
        "Half a rep", 2, "PROVIDER_TIMEOUT")  # fmt: skip


@pytest.mark.parametrize(
    "figures",
    [
        {"chunk_count": -1},
        {"chunk_count": 0, "first_chunk_ms": 3.0},
        {"chunk_count": 2, "first_chunk_ms": 30.0, "duration_ms": 10.0},
        {"chunk_count": 2, "duration_ms": float("nan")},
        {"chunk_count": 2, "first_chunk_ms": -1.0},
    ],
)
def test_inconsistent_figures_are_a_validation_error_and_record_nothing(
    pipeline: PersistencePipeline, chat: str, figures: dict[str, object]
) -> None:
    message_id = opened_id(pipeline, chat)
    stream = MeasuredStream(chat, "alice", message_id, **figures)  # type: ignore[arg-type]

    for result in (pipeline.complete_stream(stream, "x"), pipeline.fail_stream(stream, "E")):
        assert result.error is not None and result.error.code is ErrorCode.VALIDATION_ERROR
    assert message_id in pipeline.repository.get(chat).open_streams
