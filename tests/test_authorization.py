"""Another user can neither write to a chat nor read its statistics, audit trail or replay
(both backends). "Not yours" (UNAUTHORIZED) and "does not exist" (CHAT_NOT_FOUND) stay distinct
codes, and neither answer carries anything of the chat: see docs/reliability.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import title_binding
from chatledger.domain.stream_context import StreamContext
from chatledger.projections.read_side import ReadSide

SECRET = "alice-private-PLANTED-7d1f"
CHAT_FIELDS = ("owner", "alice", "Private title", "version", SECRET)


@pytest.fixture
def alices_chat(pipeline: PersistencePipeline) -> StreamContext:
    """alice's chat with a message and an open stream; returns the stream."""
    assert pipeline.start_chat("private", "alice", title="Private title", model="gpt-4o").success
    assert pipeline.persist_user_message("private", "alice", SECRET, message_id="a-1").success
    opened = pipeline.open_stream("private", "alice", message_id="a-2")
    assert opened.stream is not None
    opened.stream.add_chunk(SECRET)
    return opened.stream


def event_count(pipeline: PersistencePipeline) -> int:
    return len(pipeline.recorder.select_notifications(1, 1_000_000))


def assert_refused(result: CommandResult, code: ErrorCode) -> None:
    """Refused with `code`, and nothing of alice's chat in the answer."""
    assert not result.success
    assert result.error is not None and result.error.code == code, result.error
    answer = result.model_dump(exclude={"processing_ms"})
    # Only what the caller sent comes back: no owner, title, version or content.
    assert set(result.error.details) <= {"chat_id"}
    for data_field in ("stats", "chat", "records", "version", "tokens", "stream"):
        assert not answer.get(data_field), data_field
    assert SECRET not in json.dumps(answer, default=str)


def writes_by(pipeline: PersistencePipeline, user: str, chat_id: str) -> list[CommandResult]:
    forged = StreamContext(chat_id, user, "a-2", None)
    forged.add_chunk("hijacked")
    return [
        pipeline.persist_user_message(chat_id, user, "intrusion", message_id="m-1"),
        pipeline.persist_assistant_message(chat_id, user, "intrusion", message_id="m-2"),
        pipeline.open_stream(chat_id, user, message_id="m-3"),
        pipeline.complete_stream(forged),
        pipeline.fail_stream(forged, "HIJACK"),
        pipeline.persist_messages(
            chat_id, user, [{"role": "user", "content": "intrusion", "message_id": "m-4"}]
        ),
    ]


def reads_by(read_side: ReadSide, user: str, chat_id: str) -> list[CommandResult]:
    return [
        read_side.get_message_persistence_stats(user, chat_id=chat_id),
        read_side.get_message_persistence_stats(user, chat_id=chat_id, time_range_hours=24),
        read_side.audit_trail(user, chat_id=chat_id),
        read_side.audit_trail(user, chat_id=chat_id, message_id="a-1", with_content=True),
        read_side.replay_chat(chat_id, user),
        read_side.replay_chat(chat_id, user, to_version=1),
    ]


def test_another_user_cannot_write_to_a_chat(
    pipeline: PersistencePipeline, alices_chat: StreamContext
) -> None:
    before = event_count(pipeline)
    for result in writes_by(pipeline, "mallory", "private"):
        assert_refused(result, ErrorCode.UNAUTHORIZED)
    taken = pipeline.start_chat("private", "mallory", title="mine now")
    assert taken.error is not None and taken.error.code == ErrorCode.CONFLICT
    smuggled = [{"role": "user", "content": "intrusion", "message_id": "m-5"}]
    imported = pipeline.import_chats(
        "mallory", [{"chat_id": "mine", "messages": smuggled},
                    {"chat_id": "private", "title": "mine now", "messages": smuggled}],
    )  # fmt: skip
    assert imported.error is not None and imported.error.code == ErrorCode.UNAUTHORIZED
    assert SECRET not in imported.model_dump_json()
    assert event_count(pipeline) == before
    chat: Chat = pipeline.repository.get("private")
    title = pipeline.protector.unseal("alice", chat.title or "", title_binding("private"))
    assert (chat.owner_id, title) == ("alice", "Private title")
    assert alices_chat.message_id in chat.open_streams  # mallory could not close it


def test_another_user_cannot_read_stats_audit_trail_or_replay(
    pipeline: PersistencePipeline, read_side: ReadSide, alices_chat: StreamContext
) -> None:
    for result in reads_by(read_side, "mallory", "private"):
        assert_refused(result, ErrorCode.UNAUTHORIZED)
    # Without a chat id, each user sees only their own chats: none of alice's events or figures.
    own_stats = read_side.get_message_persistence_stats("mallory").stats
    assert own_stats is not None and own_stats.messages == 0
    own_trail = read_side.audit_trail("mallory", message_id="a-1", with_content=True)
    assert own_trail.success and own_trail.records == []
    assert read_side.audit_trail("mallory").records == []


def test_the_owner_reads_all_of_it(
    read_side: ReadSide, alices_chat: StreamContext, pipeline: PersistencePipeline
) -> None:
    read_side.catch_up()  # PostgreSQL's read side does not catch up on read
    stats = read_side.get_message_persistence_stats("alice", chat_id="private").stats
    assert stats is not None and stats.messages == 2
    trail = read_side.audit_trail("alice", chat_id="private", with_content=True)
    assert [r["version"] for r in trail.records] == [1, 2, 3]
    assert trail.records[1]["fields"]["content"] == SECRET
    assert "content" not in read_side.audit_trail("alice").records[1]["fields"]
    replay = read_side.replay_chat("private", "alice")
    assert replay.chat is not None and replay.chat.open_streams == ["a-2"]


def test_audit_trail_pages_through_the_owners_events(
    pipeline: PersistencePipeline, read_side: ReadSide, alices_chat: StreamContext
) -> None:
    assert pipeline.start_chat("other", "mallory").success
    for index in range(5):
        assert pipeline.persist_user_message("private", "alice", f"m{index}").success
    seen: list[int] = []
    after: int | None = 0
    while after is not None:
        page = read_side.audit_trail("alice", after_position=after, limit=3)
        assert page.success, page.error
        seen += [r["version"] for r in page.records]
        assert {r["user_id"] for r in page.records} <= {"alice"}
        after = page.next_position
    assert seen == list(range(1, 9))


def test_not_yours_and_does_not_exist_differ_only_in_the_code(
    pipeline: PersistencePipeline, read_side: ReadSide, alices_chat: StreamContext
) -> None:
    """Both answers have the same shape and details, and carry only what the caller sent; the
    code, its message and its hint tell them apart (the decision in docs/reliability.md)."""

    def everything(chat_id: str) -> list[CommandResult]:
        return writes_by(pipeline, "mallory", chat_id) + reads_by(read_side, "mallory", chat_id)

    for refused, absent in zip(everything("private"), everything("nowhere"), strict=True):
        assert_refused(absent, ErrorCode.CHAT_NOT_FOUND)
        assert_refused(refused, ErrorCode.UNAUTHORIZED)
        assert shape(refused) == shape(absent)
        assert refused.error and absent.error
        assert set(refused.error.details) == set(absent.error.details)


def shape(result: CommandResult) -> dict[str, Any]:
    answer = result.model_dump(exclude={"processing_ms", "error"})
    answer["chat_id"] = answer["chat_id"] is not None
    return answer
