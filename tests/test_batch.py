"""persist_messages: a run of one chat's messages in one transaction, all or none, resumable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from chatledger.domain.batch import MAX_BATCH_MESSAGES
from chatledger.domain.chain import find_broken_link
from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import OriginatorIndex
from tests.conftest import PipelineFactory
from tests.test_group_commit import RoundRecorder

USAGE = {"input_tokens": 9, "output_tokens": 3}


def conversation(prefix: str = "m", turns: int = 3) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        user, reply = f"{prefix}{2 * turn}", f"{prefix}{2 * turn + 1}"
        messages.append({"role": "user", "content": f"Explain {turn} 🙂", "message_id": user})
        messages.append({"role": "assistant", "content": f"Because {turn}.", "message_id": reply,
                         "model": "gpt-4o", "usage": USAGE})  # fmt: skip
    return messages


def stored(pipeline: PersistencePipeline, chat_id: str) -> list[Any]:
    return list(pipeline.events.get(chat_id))


def test_a_conversation_is_recorded_in_one_transaction(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat("c", "alice", model="gpt-4o").success
    rounds = RoundRecorder(pipeline)
    rounds.release_first_round.set()

    result = pipeline.persist_messages("c", "alice", conversation())

    assert result.success, result.error
    assert rounds.rounds == [6]
    assert [r.version for r in result.results] == [2, 3, 4, 5, 6, 7]
    assert result.version == 7
    events = stored(pipeline, "c")
    assert [type(e).__name__ for e in events[1:]] == [
        "UserMessageRecorded",
        "AssistantMessageRecorded",
    ] * 3
    assert pipeline.content_of(events[1]) == "Explain 0 🙂"
    assert events[1].intent["name"] == "explanation"
    assert events[2].usage == {"input_tokens": 9, "output_tokens": 3, "source": "provider"}
    assert [r.tokens.count for r in result.results if r.tokens] == [
        e.tokens["count"] for e in events[1:]
    ]
    assert find_broken_link("c", events) is None


def test_one_bad_message_records_none_of_the_batch(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat("c", "alice").success
    messages = conversation()
    messages[3]["content"] = "\ud800"  # a lone surrogate

    result = pipeline.persist_messages("c", "alice", messages)

    assert result.error and result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.details["index"] == 3
    assert result.error.message.startswith("message 3:")
    assert len(stored(pipeline, "c")) == 1


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([], "1 to"),
        ([{"role": "user", "content": "x"}] * (MAX_BATCH_MESSAGES + 1), "1 to"),
        ("not a list", "1 to"),
        (["not an object"], "JSON object"),
        ([{"role": "narrator", "content": "x"}], "role"),
        ([{"role": "user", "content": "x", "chat_id": "other"}], "whole batch"),
    ],
)
def test_malformed_batches_are_validation_errors(
    pipeline: PersistencePipeline, messages: Any, problem: str
) -> None:
    assert pipeline.start_chat("c", "alice").success
    result = pipeline.persist_messages("c", "alice", messages)
    assert result.error and result.error.code is ErrorCode.VALIDATION_ERROR
    assert problem in result.error.message
    assert len(stored(pipeline, "c")) == 1


def test_a_resumed_import_records_only_what_is_missing(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat("c", "alice").success
    messages = conversation()
    assert pipeline.persist_messages("c", "alice", messages[:2]).success

    resumed = pipeline.persist_messages("c", "alice", messages)

    assert resumed.success
    assert [r.duplicate for r in resumed.results] == [True, True, False, False, False, False]
    again = pipeline.persist_messages("c", "alice", messages)
    assert all(r.duplicate for r in again.results)
    assert len(stored(pipeline, "c")) == 7


def test_an_id_repeated_within_a_batch(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat("c", "alice").success
    same = [{"role": "user", "content": "hi", "message_id": "m"}] * 2
    result = pipeline.persist_messages("c", "alice", same)
    assert result.success and [r.duplicate for r in result.results] == [False, True]

    different = [{"role": "user", "content": "one", "message_id": "n"},
                 {"role": "user", "content": "two", "message_id": "n"}]  # fmt: skip
    conflict = pipeline.persist_messages("c", "alice", different)
    assert conflict.error and conflict.error.code is ErrorCode.CONFLICT
    assert [e.originator_version for e in stored(pipeline, "c")] == [1, 2]


def test_owner_and_chat_are_checked(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat("c", "alice").success
    stranger = pipeline.persist_messages("c", "mallory", conversation())
    unknown = pipeline.persist_messages("nowhere", "alice", conversation())
    assert stranger.error and stranger.error.code is ErrorCode.UNAUTHORIZED
    assert unknown.error and unknown.error.code is ErrorCode.CHAT_NOT_FOUND
    assert len(stored(pipeline, "c")) == 1
    assert isinstance(stored(pipeline, "c")[0], Chat.Started)


def test_an_import_records_many_chats_in_one_transaction(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat("old", "alice").success
    assert pipeline.persist_messages("old", "alice", conversation()[:2]).success
    rounds = RoundRecorder(pipeline)
    rounds.release_first_round.set()
    chats = [{"chat_id": "new", "title": "New", "model": "gpt-4o", "messages": conversation()},
             {"chat_id": "old", "messages": conversation()}]  # fmt: skip

    result = pipeline.import_chats("alice", chats)

    assert result.success, result.error
    assert rounds.rounds == [1 + 6 + 4]  # new chat's start, its six messages, four new in "old"
    assert [c.version for c in result.chats] == [7, 7]
    assert [r.duplicate for r in result.chats[1].results] == [True, True] + [False] * 4
    started = stored(pipeline, "new")[0]
    assert isinstance(started, Chat.Started) and started.owner_id == "alice"
    assert pipeline.title_of(started) == "New" and started.model == "gpt-4o"
    for chat_id in ("new", "old"):
        assert find_broken_link(chat_id, stored(pipeline, chat_id)) is None
    again = pipeline.import_chats("alice", chats)
    assert all(r.duplicate for chat in again.chats for r in chat.results)
    assert rounds.rounds == [11]


def test_an_import_with_one_bad_chat_records_nothing(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat("theirs", "bob").success
    good = {"chat_id": "a", "messages": conversation()}
    cases: list[tuple[list[Any], ErrorCode]] = [
        ([good, {"chat_id": "theirs", "messages": conversation()}], ErrorCode.UNAUTHORIZED),
        ([good, good], ErrorCode.VALIDATION_ERROR),
        ([good, {"chat_id": "c"}], ErrorCode.VALIDATION_ERROR),
        ([], ErrorCode.VALIDATION_ERROR),
    ]
    for chats, code in cases:
        result = pipeline.import_chats("alice", chats)
        assert result.error and result.error.code is code, (chats, result.error)
        assert not stored(pipeline, "a") and len(stored(pipeline, "theirs")) == 1


def test_a_message_that_cannot_be_recorded_is_refused_alone(pipeline: PersistencePipeline) -> None:
    """The log records what happened: the other messages and chats of the import are recorded,
    the bad one comes back with its own coded result (issue 15: lossless ingest)."""
    good = {"chat_id": "a", "messages": conversation()}
    mixed = {"chat_id": "b", "messages": [
        {"role": "user", "content": "before", "message_id": "b-0"},
        {"role": "narrator", "content": "hi", "message_id": "b-1"},
        "not a message",
        {"role": "tool", "content": "42", "message_id": "b-3"},
        {"role": "assistant", "content": "after", "message_id": "b-4"},
    ]}  # fmt: skip
    result = pipeline.import_chats("alice", [good, mixed])
    assert result.success, result.error
    outcomes = [(r.success, r.error.code if r.error else None) for r in result.chats[1].results]
    invalid = (False, ErrorCode.VALIDATION_ERROR)
    assert outcomes == [(True, None), invalid, invalid, invalid, (True, None)]
    assert result.chats[1].results[1].message_id == "b-1"
    assert len(stored(pipeline, "a")) == 1 + len(conversation())
    assert [e.message_id for e in stored(pipeline, "b")[1:]] == ["b-0", "b-4"]


def test_an_import_that_meets_another_writer_is_a_conflict_and_can_be_repeated(
    open_pipeline: PipelineFactory,
) -> None:
    pipeline, other_process = open_pipeline(), open_pipeline()
    assert pipeline.start_chat("old", "alice").success
    chats = [{"chat_id": "new", "messages": conversation()},
             {"chat_id": "old", "messages": conversation()}]  # fmt: skip
    record = pipeline.group_commit.record

    def another_writer_first(events: Sequence[Any]) -> object:
        """Once the import has decided on "old" as it was, another process appends to it."""
        pipeline.group_commit.record = record
        meanwhile = other_process.persist_user_message("old", "alice", "hi", message_id="x")
        assert meanwhile.success
        return record(events)

    pipeline.group_commit.record = another_writer_first
    first = pipeline.import_chats("alice", chats)
    assert first.error and first.error.code is ErrorCode.CONFLICT
    assert not stored(pipeline, "new") and len(stored(pipeline, "old")) == 2

    second = pipeline.import_chats("alice", chats)
    assert second.success and [c.version for c in second.chats] == [7, 8]


def test_an_import_finds_the_chats_other_processes_started_in_one_query(
    open_pipeline: PipelineFactory,
) -> None:
    pipeline, other_process = open_pipeline(), open_pipeline()
    assert other_process.start_chat("elsewhere", "alice").success
    assert other_process.start_chat("bobs", "bob").success
    recorder = pipeline.recorder
    assert isinstance(recorder, OriginatorIndex)
    asked = [f"none-{n}" for n in range(1000)] + ["elsewhere", "bobs"]  # more than one query
    assert recorder.originators_among(asked) == {"elsewhere", "bobs"}

    chats = [{"chat_id": "elsewhere", "messages": conversation()},
             {"chat_id": "fresh", "messages": conversation()}]  # fmt: skip
    result = pipeline.import_chats("alice", chats)
    assert result.success, result.error
    assert [c.version for c in result.chats] == [7, 7]
    refused = pipeline.import_chats("alice", [{"chat_id": "bobs", "messages": conversation()}])
    assert refused.error and refused.error.code is ErrorCode.UNAUTHORIZED
