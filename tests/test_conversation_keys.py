"""record_conversation: a model call's prompt, history and all, each message keyed by its place;
a reply's place known when its words come back in the next call's history."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chatledger.domain.chat import Chat
from chatledger.domain.conversation_keys import conversation_keys, next_key
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.projections.verification import ChainVerifier

HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi 🙂"},
]


def roles(pipeline: PersistencePipeline, chat_id: str = "c1") -> list[str]:
    chat: Chat = pipeline.repository.get(chat_id)
    events = [pipeline.recorded_event(chat, v) for v in range(2, chat.version + 1)]
    return [e.role for e in events if isinstance(e, Chat.MessageEvent)]


def test_a_resent_history_records_only_what_is_new(pipeline: PersistencePipeline) -> None:
    first = pipeline.record_conversation("c1", "alice", HISTORY, model="gpt-4o")
    assert first.success and [r.duplicate for r in first.results] == [False, False]
    assert first.place == conversation_keys("c1", HISTORY)[-1]
    again = pipeline.record_conversation(
        "c1", "alice", [*HISTORY, {"role": "user", "content": "?"}]
    )
    assert [r.duplicate for r in again.results] == [True, True, False]
    assert again.results[0].message_id == first.results[0].message_id
    edited = pipeline.record_conversation(
        "c1", "alice", [HISTORY[0], {"role": "user", "content": "Yo"}]
    )
    assert [r.duplicate for r in edited.results] == [True, False]  # a branch: recorded too
    assert roles(pipeline) == ["system", "user", "user", "user"]


def test_a_reply_is_known_by_its_place_whole_or_streamed_and_a_regenerated_one_is_kept(
    pipeline: PersistencePipeline,
) -> None:
    place = pipeline.record_conversation("c1", "alice", HISTORY).place
    assert place is not None
    reply = {"role": "assistant", "content": "Hello!"}
    opened = pipeline.open_stream("c1", "alice")
    assert opened.stream is not None
    opened.stream.add_chunk("Hello!")
    assert pipeline.complete_stream(opened.stream, conversation_key=next_key(place, reply)).success
    again = pipeline.persist_assistant_message("c1", "alice", "Hello!",
                                               conversation_key=next_key(place, reply))  # fmt: skip
    assert again.success and not again.duplicate  # the same prompt asked again: a second reply
    later = pipeline.record_conversation(
        "c1", "alice", [*HISTORY, reply, {"role": "user", "content": "Ok"}]
    )
    assert [r.duplicate for r in later.results] == [True, True, True, False]
    assert later.results[2].message_id == opened.stream.message_id
    assert roles(pipeline) == ["system", "user", "assistant", "assistant", "assistant", "user"]


def test_a_place_cannot_be_given_and_a_bad_message_is_refused_alone(
    pipeline: PersistencePipeline,
) -> None:
    sent = [HISTORY[0], "not a message", {"role": "user", "content": "x", "message_id": "m-1"},
            {"role": "robot", "content": "x"}, {"role": "user", "content": "fine\x00"}]  # fmt: skip
    result = pipeline.record_conversation("c1", "alice", sent)
    assert result.success
    assert [r.success for r in result.results] == [True, False, False, False, True]
    assert {r.error.code for r in result.results if r.error} == {ErrorCode.VALIDATION_ERROR}
    assert pipeline.record_conversation("c1", "alice", sent).results[4].duplicate


def test_the_owner_and_the_erased_are_respected(pipeline: PersistencePipeline) -> None:
    pipeline.record_conversation("c1", "alice", HISTORY)
    taken = pipeline.record_conversation("c1", "bob", HISTORY)
    assert taken.error is not None and taken.error.code is ErrorCode.UNAUTHORIZED
    bad = pipeline.record_conversation("c 1", "alice", HISTORY)
    assert bad.error is not None and bad.error.code is ErrorCode.VALIDATION_ERROR


def test_concurrent_callers_sending_one_history_record_each_message_once(
    pipeline: PersistencePipeline,
) -> None:
    history = [*HISTORY, *({"role": "user", "content": f"turn {n}"} for n in range(20))]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: pipeline.record_conversation("c1", "alice", history),
                                range(8)))  # fmt: skip
    assert all(r.success for r in results)
    assert len(roles(pipeline)) == len(history)
    assert ChainVerifier(pipeline).verify().intact


def test_whole_records_all_the_messages_or_none(pipeline: PersistencePipeline) -> None:
    sent = [*HISTORY, {"role": "robot", "content": "x"}]
    refused = pipeline.record_conversation("c1", "alice", sent, whole=True)
    assert refused.error is not None and refused.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.error.details["index"] == 2
    assert pipeline.record_conversation("c2", "alice", HISTORY, whole=True).success
    assert roles(pipeline, "c2") == ["system", "user"]
    assert "c1" not in pipeline.repository  # nothing, not even the chat's start
