"""Contract of the read models, on every backend: message table, statistics, audit index."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.projections.read_side import ReadSide
from chatledger.projections.views import AuditFilter, PositionMovedError
from tests.read_model_oracle import actual_dumps, expected_dumps


def conversation(pipeline: PersistencePipeline) -> None:
    """One chat of alice with every kind of message, and one chat of bob."""
    assert pipeline.start_chat("c-a", "alice", model="gpt-4o").success
    assert pipeline.start_chat("c-b", "bob", model="gpt-4").success
    pipeline.persist_user_message("c-a", "alice", "Write python code\x00now", message_id="u1",
                                  context={"insights": ["i-1"]}, metadata={"k": "v"})  # fmt: skip
    pipeline.persist_assistant_message(
        "c-a", "alice", "def f(): ...", message_id="a1", model="gpt-4o", temperature=0.5,
        usage={"input_tokens": 20, "output_tokens": 7}, generation_ms=120.0,
        intent={"name": "code_request", "confidence": 0.9, "keywords": ["python"]},
    )  # fmt: skip
    pipeline.persist_assistant_message(
        "c-a", "alice", "", message_id="a2", error_code="RATE_LIMITED"
    )
    completed = pipeline.open_stream("c-a", "alice", message_id="s1").stream
    assert completed is not None
    completed.add_chunk("Hel")
    completed.add_chunk("lo")
    pipeline.complete_stream(completed, usage={"input_tokens": 5, "output_tokens": 2})
    failed = pipeline.open_stream("c-a", "alice", message_id="s2").stream
    assert failed is not None
    failed.add_chunk("part")
    pipeline.fail_stream(failed, "PROVIDER_DOWN", "503")
    pipeline.open_stream("c-a", "alice", message_id="s3")
    pipeline.reap_abandoned_streams(older_than=timedelta(0))
    pipeline.open_stream("c-a", "alice", message_id="s4")  # still streaming
    pipeline.persist_user_message("c-b", "bob", "Hello there", message_id="b1")


def test_message_table_has_one_row_per_message_with_its_metadata(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    read_side.catch_up()
    rows = {row["message_id"]: row for row in read_side.messages.messages("c-a")}
    assert list(rows) == ["u1", "a1", "a2", "s1", "s2", "s3", "s4"]
    assert {m: r["status"] for m, r in rows.items()} == {
        "u1": "recorded", "a1": "recorded", "a2": "recorded", "s1": "completed",
        "s2": "failed", "s3": "abandoned", "s4": "streaming",
    }  # fmt: skip
    user = rows["u1"]
    assert (user["role"], user["kind"], user["content"]) == (
        "user",
        "message",
        "Write python code\u2400now",
    )
    assert (user["intent_name"], user["token_encoding"]) == ("code_request", "o200k_base")
    assert (
        user["context_items"]
        == '{"document_chunks": [], "insights": ["i-1"], "jtbds": [], "metrics": []}'
    )
    assert user["metadata"] == '{"k": "v"}'
    reply = rows["a1"]
    assert (reply["model"], reply["temperature"], reply["generation_ms"]) == ("gpt-4o", 0.5, 120.0)
    assert (reply["provider_input_tokens"], reply["provider_output_tokens"]) == (20, 7)
    assert rows["a2"]["error_code"] == "RATE_LIMITED"
    stream = rows["s1"]
    assert (stream["kind"], stream["content"], stream["chunk_count"]) == ("stream", "Hello", 2)
    assert stream["first_chunk_ms"] is not None
    assert stream["duration_ms"] >= stream["first_chunk_ms"]
    assert (rows["s2"]["content"], rows["s2"]["error_code"]) == ("part", "PROVIDER_DOWN")
    assert rows["s3"]["error_code"] == "STREAM_ABANDONED"
    events = {getattr(e, "message_id", None): e for e in pipeline.events.get("c-a")}
    assert stream["event_hash"] == vars(events["s1"])["hash"]
    assert stream["version"] == events["s1"].originator_version


def test_statistics_per_user_chat_and_time_range(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    read_side.catch_up()  # on PostgreSQL the follow process's job
    result = read_side.get_message_persistence_stats("alice")
    assert result.success
    stats = result.stats
    assert stats is not None
    assert stats.messages == 7
    assert stats.messages_by_role == {"assistant": 6, "user": 1}
    assert stats.messages_by_status == {
        "abandoned": 1,
        "completed": 1,
        "failed": 1,
        "recorded": 3,
        "streaming": 1,
    }
    assert stats.tokens_provider_input == 25
    assert stats.tokens_provider_output == 9
    assert stats.errors_by_code == {"PROVIDER_DOWN": 1, "RATE_LIMITED": 1, "STREAM_ABANDONED": 1}
    assert stats.models == {"gpt-4o": 6}
    assert stats.intents == {"code_request": 2}
    assert stats.processing_time.count == 4  # user, two replies, one completed stream
    assert stats.processing_time.p50_ms is not None
    assert stats.streaming.abandoned == 1
    assert stats.streaming.average_chunks == 1.0  # (2 + 1 + 0) chunks over 3 closed streams
    assert stats.streaming.time_to_first_chunk.count == 2
    bob = read_side.get_message_persistence_stats("bob", chat_id="c-b").stats
    assert bob is not None
    assert (bob.messages, bob.models) == (1, {})
    recent = read_side.get_message_persistence_stats("alice", time_range_hours=1).stats
    assert recent is not None
    assert recent.messages == 7
    later = datetime.now(UTC) + timedelta(hours=5)
    old = read_side.get_message_persistence_stats("alice", time_range_hours=2, now=later).stats
    assert old is not None
    assert old.messages == 0


def test_statistics_of_someone_elses_chat_are_refused(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    refused = read_side.get_message_persistence_stats("bob", chat_id="c-a")
    assert refused.error is not None
    assert refused.error.code == ErrorCode.UNAUTHORIZED
    missing = read_side.get_message_persistence_stats("bob", chat_id="nope")
    assert missing.error is not None
    assert missing.error.code == ErrorCode.CHAT_NOT_FOUND
    invalid = read_side.get_message_persistence_stats("bob'; --", time_range_hours=0)
    assert invalid.error is not None
    assert invalid.error.code == ErrorCode.VALIDATION_ERROR


def test_audit_index_finds_events_by_every_filter(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    read_side.catch_up()
    everything = read_side.audit.entries(AuditFilter())
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    assert len(everything) == len(list(pipeline.events.get("c-a"))) + len(
        list(pipeline.events.get("c-b"))
    )
    assert {e.chat_id for e in read_side.audit.entries(AuditFilter(user_id="bob"))} == {"c-b"}
    by_message = read_side.audit.entries(AuditFilter(chat_id="c-a", message_id="s1"))
    assert [e.event_type for e in by_message] == ["StreamOpened", "StreamCompleted"]
    failures = read_side.audit.entries(AuditFilter(event_types=["StreamFailed"]))
    assert [e.message_id for e in failures] == ["s2", "s3"]
    page = read_side.audit.entries(AuditFilter(), after_position=everything[2].position, limit=2)
    assert page == everything[3:5]
    middle = everything[4].recorded_at
    assert read_side.audit.entries(AuditFilter(since=middle)) == everything[4:]
    assert read_side.audit.entries(AuditFilter(until=middle)) == everything[:4]
    assert read_side.audit.entries(AuditFilter(user_id="x' OR '1'='1")) == []


def test_catching_up_twice_changes_nothing_and_a_restart_resumes(
    pipeline: PersistencePipeline, open_read_side: Callable[..., ReadSide]
) -> None:
    conversation(pipeline)
    first = open_read_side(pipeline)
    applied = first.catch_up()
    assert set(applied.values()) == {len(pipeline.recorder.select_notifications(1, 1000))}
    assert first.catch_up() == {"messages": 0, "stats": 0, "audit": 0}
    pipeline.persist_user_message("c-b", "bob", "again", message_id="b2")
    restarted = open_read_side(pipeline)
    assert restarted.catch_up() == {"messages": 1, "stats": 1, "audit": 1}
    assert actual_dumps(restarted) == expected_dumps(pipeline)


def test_a_batch_based_on_a_stale_position_is_refused(
    pipeline: PersistencePipeline, open_read_side: Callable[..., ReadSide]
) -> None:
    conversation(pipeline)
    slow, fast = open_read_side(pipeline), open_read_side(pipeline)
    runner = slow.runner("audit")
    notifications = pipeline.recorder.select_notifications(1, 3)
    for notification in notifications:  # the slow runner stages from position 0 ...
        event = pipeline.mapper.to_domain_event(notification)
        runner.projection.process_event(event, _tracking(notification.id))
    fast.catch_up(["audit"])  # ... while the fast one applies everything
    with pytest.raises(PositionMovedError):
        runner.view.commit(1, 0)
    assert actual_dumps(fast)["audit"] == expected_dumps(pipeline)["audit"]


def _tracking(position: int) -> object:
    from eventsourcing.persistence import Tracking

    return Tracking("chatledger", position)


def test_read_your_writes_on_the_embedded_default(
    pipeline: PersistencePipeline, read_side: ReadSide, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL deployments run a follow process instead")
    pipeline.start_chat("c", "alice")
    for index in range(3):
        pipeline.persist_user_message("c", "alice", "hi", message_id=f"m{index}")
        stats = read_side.get_message_persistence_stats("alice").stats
        assert stats is not None
        assert stats.messages == index + 1


def test_stream_rows_survive_open_and_close_in_one_batch(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    pipeline.start_chat("c", "alice")
    opened = pipeline.open_stream("c", "alice", message_id="s")
    assert opened.stream is not None
    pipeline.complete_stream(opened.stream, "done")
    read_side.catch_up()
    assert [(r["status"], r["content"]) for r in read_side.messages.messages("c")] == [
        ("completed", "done")
    ]
    assert isinstance(list(pipeline.events.get("c"))[-1], Chat.StreamCompleted)
