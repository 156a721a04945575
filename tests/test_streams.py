"""Streamed replies: visible when opened, timed when completed, closed by failure or reaping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.stream_context import StreamContext


def last_event(pipeline: PersistencePipeline, chat_id: str) -> object:
    return list(pipeline.events.get(chat_id))[-1]


def opened(pipeline: PersistencePipeline, chat_id: str, **fields: object) -> StreamContext:
    result = pipeline.open_stream(chat_id, "alice", model="gpt-4o", temperature=0.7, **fields)  # type: ignore[arg-type]
    assert result.success and result.stream is not None, result.error
    return result.stream


def test_open_stream_is_visible_before_completion(pipeline: PersistencePipeline, chat: str) -> None:
    stream = opened(pipeline, chat, context={"document_chunks": ["d-1"]}, message_id="s-1")
    event = last_event(pipeline, chat)
    assert isinstance(event, Chat.StreamOpened)
    assert (event.message_id, event.model, event.temperature) == ("s-1", "gpt-4o", 0.7)
    assert stream.message_id == "s-1"


def test_completed_stream_records_timings_and_accumulated_chunks(
    pipeline: PersistencePipeline, chat: str
) -> None:
    stream = opened(pipeline, chat)
    for chunk in ["Hel", "lo ", "wor", "ld 🌍"]:
        stream.add_chunk(chunk)
    result = pipeline.complete_stream(stream, usage={"input_tokens": 10, "output_tokens": 4})
    assert result.success and result.version == 3
    event = last_event(pipeline, chat)
    assert isinstance(event, Chat.StreamCompleted)
    assert pipeline.content_of(event) == "Hello world 🌍" and event.chunk_count == 4
    assert event.first_chunk_ms is not None and event.duration_ms >= event.first_chunk_ms >= 0
    assert event.tokens["encoding"] == "o200k_base" and event.usage is not None
    assert pipeline.repository.get(chat).open_streams == {}


def test_completing_twice_returns_the_original(pipeline: PersistencePipeline, chat: str) -> None:
    stream = opened(pipeline, chat)
    stream.add_chunk("done")
    first = pipeline.complete_stream(stream)
    again = pipeline.complete_stream(stream)
    assert again.success and again.duplicate and again.version == first.version


def test_failed_stream_keeps_the_partial_reply(pipeline: PersistencePipeline, chat: str) -> None:
    stream = opened(pipeline, chat)
    stream.add_chunk("partial ")
    result = pipeline.fail_stream(stream, "PROVIDER_TIMEOUT", "no chunk for 30 s")
    assert result.success
    event = last_event(pipeline, chat)
    assert isinstance(event, Chat.StreamFailed)
    assert (event.error_code, pipeline.content_of(event), event.chunk_count) == (
        "PROVIDER_TIMEOUT",
        "partial ",
        1,
    )
    late = pipeline.complete_stream(stream, "too late")
    assert not late.success and late.error is not None
    assert late.error.code == ErrorCode.STREAM_NOT_OPEN


def test_reaping_closes_only_abandoned_streams(pipeline: PersistencePipeline, chat: str) -> None:
    abandoned = opened(pipeline, chat, message_id="s-old")
    finished = opened(pipeline, chat, message_id="s-done")
    pipeline.complete_stream(finished, "ok")
    recent = pipeline.reap_abandoned_streams(older_than=timedelta(hours=1))
    assert recent.success and recent.reaped == []
    reaped = pipeline.reap_abandoned_streams(older_than=timedelta(0))
    assert reaped.reaped == [{"chat_id": chat, "message_id": "s-old"}]
    event = last_event(pipeline, chat)
    assert isinstance(event, Chat.StreamFailed) and event.error_code == "STREAM_ABANDONED"
    assert pipeline.reap_abandoned_streams(older_than=timedelta(0)).reaped == []
    late = pipeline.complete_stream(abandoned, "finally")
    assert late.error is not None and late.error.code == ErrorCode.STREAM_NOT_OPEN


def test_stream_of_another_user_is_unauthorized(pipeline: PersistencePipeline, chat: str) -> None:
    stream = opened(pipeline, chat)
    forged = StreamContext(chat, "mallory", stream.message_id, None)
    result = pipeline.complete_stream(forged, "stolen")
    assert result.error is not None and result.error.code == ErrorCode.UNAUTHORIZED


def test_stream_content_is_validated(pipeline: PersistencePipeline, chat: str) -> None:
    stream = opened(pipeline, chat)
    stream.add_chunk("bad \udc80 chunk")
    result = pipeline.complete_stream(stream)
    assert result.error is not None and result.error.code == ErrorCode.VALIDATION_ERROR
    assert pipeline.repository.get(chat).open_streams  # still open: nothing half-written


def test_metadata_that_is_not_an_object_is_refused_not_dropped(
    pipeline: PersistencePipeline, chat: str
) -> None:
    stream = opened(pipeline, chat)
    closes: list[Callable[[], CommandResult]] = [
        lambda: pipeline.complete_stream(stream, "done", metadata=[]),  # type: ignore[arg-type]
        lambda: pipeline.complete_stream(stream, "done", personal_metadata=""),  # type: ignore[arg-type]
        lambda: pipeline.fail_stream(stream, "PROVIDER_ERROR", metadata=0),  # type: ignore[arg-type]
        lambda: pipeline.fail_stream(stream, "PROVIDER_ERROR", personal_metadata=[]),  # type: ignore[arg-type]
    ]
    for close in closes:
        result = close()
        assert result.error is not None and result.error.code == ErrorCode.VALIDATION_ERROR
        assert pipeline.repository.get(chat).open_streams  # still open: nothing recorded
    assert pipeline.complete_stream(stream, "done", metadata=None).success
