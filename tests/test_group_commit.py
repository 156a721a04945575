"""Group commit: concurrent persists share transactions, and each caller keeps its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from tests.conftest import PipelineFactory
from tests.test_concurrency import assert_all_recorded_once
from tests.test_store_failures import table_locked_by_another_writer


class RoundRecorder:
    """Wraps the real recording function: notes each transaction's size, and can hold the first
    round open until other callers have queued behind it."""

    def __init__(self, pipeline: PersistencePipeline) -> None:
        self.record = pipeline.group_commit.record
        self.rounds: list[int] = []
        self.first_round_started = threading.Event()
        self.release_first_round = threading.Event()
        pipeline.group_commit.record = self

    def __call__(self, events: Sequence[Any]) -> object:
        self.rounds.append(len(events))
        if len(self.rounds) == 1:
            self.first_round_started.set()
            assert self.release_first_round.wait(10)
        return self.record(events)


def persist(pipeline: PersistencePipeline, chat_id: str, message_id: str) -> CommandResult:
    return pipeline.persist_user_message(chat_id, "alice", "hello", message_id=message_id)


def test_callers_who_queue_behind_a_commit_share_the_next_transaction(
    open_pipeline: PipelineFactory,
) -> None:
    pipeline = open_pipeline()
    chats = [f"chat-{n}" for n in range(9)]
    for chat_id in chats:
        assert pipeline.start_chat(chat_id, "alice").success
    rounds = RoundRecorder(pipeline)

    results = one_caller_then_the_rest_queued(pipeline, rounds, chats)

    assert all(r.success for r in results), [r.error for r in results]
    assert rounds.rounds == [1, 8]  # eight messages, one transaction
    for n, chat_id in enumerate(chats):
        assert_all_recorded_once(pipeline, chat_id, {f"m-{n}"})


def test_a_conflict_in_a_shared_transaction_fails_nobody_else(
    open_pipeline: PipelineFactory,
) -> None:
    pipeline, other_process = open_pipeline(), open_pipeline()
    chats = [f"chat-{n}" for n in range(5)]
    for chat_id in chats:
        assert pipeline.start_chat(chat_id, "alice").success
    rounds = RoundRecorder(pipeline)

    def another_process_appends() -> None:
        # To chat-4, once its caller here has decided on the chat as it was: a conflict.
        assert persist(other_process, "chat-4", "elsewhere").success

    results = one_caller_then_the_rest_queued(pipeline, rounds, chats, another_process_appends)

    assert all(r.success for r in results), [r.error for r in results]
    # The shared round of four failed on chat-4 as a whole; each was recorded again alone, and
    # chat-4's caller caught up with the other process and appended after its message.
    assert rounds.rounds[:6] == [1, 4, 1, 1, 1, 1]
    assert rounds.rounds[6:] == [1]
    for n, chat_id in enumerate(chats[:4]):
        assert_all_recorded_once(pipeline, chat_id, {f"m-{n}"})
    assert_all_recorded_once(pipeline, "chat-4", {"elsewhere", "m-4"})
    assert results[4].version == 3


def test_many_threads_on_many_chats_lose_and_double_nothing(
    open_pipeline: PipelineFactory,
) -> None:
    pipeline = open_pipeline()
    chats = [f"chat-{n}" for n in range(16)]
    for chat_id in chats:
        assert pipeline.start_chat(chat_id, "alice").success

    def write(chat_id: str) -> list[bool]:
        return [persist(pipeline, chat_id, f"{chat_id}-{i}").success for i in range(20)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = [ok for batch in pool.map(write, chats) for ok in batch]
    assert all(outcomes)
    for chat_id in chats:
        assert_all_recorded_once(pipeline, chat_id, {f"{chat_id}-{i}" for i in range(20)})


def one_caller_then_the_rest_queued(
    pipeline: PersistencePipeline,
    rounds: RoundRecorder,
    chats: list[str],
    meanwhile: Callable[[], None] | None = None,
) -> list[CommandResult]:
    """One message per chat: the first caller's round is held open until every other caller
    waits behind it (having decided), then, after `meanwhile`, released, so that the others
    can share the next round."""
    with ThreadPoolExecutor(max_workers=len(chats)) as pool:
        first = pool.submit(persist, pipeline, chats[0], "m-0")
        assert rounds.first_round_started.wait(10)
        queued = [pool.submit(persist, pipeline, c, f"m-{n}") for n, c in enumerate(chats[1:], 1)]
        wait_until(lambda: len(pipeline.group_commit.waiting) == len(chats) - 1)
        if meanwhile is not None:
            meanwhile()
        rounds.release_first_round.set()
        return [first.result(), *(f.result() for f in queued)]


def wait_until(condition: Any, timeout_s: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


def test_a_store_that_fails_fails_the_whole_round_at_once(
    open_pipeline: PipelineFactory, database_url: str
) -> None:
    """Recording each caller again alone would wait out the lock timeout once per caller."""
    pipeline = open_pipeline(lock_timeout_s=1)
    chats = [f"chat-{n}" for n in range(6)]
    for chat_id in chats:
        assert pipeline.start_chat(chat_id, "alice").success
    rounds = RoundRecorder(pipeline)

    with table_locked_by_another_writer(database_url):
        began = time.monotonic()
        results = one_caller_then_the_rest_queued(pipeline, rounds, chats)
        waited = time.monotonic() - began

    assert [r.error.code if r.error else None for r in results] == [ErrorCode.PERSISTENCE_ERROR] * 6
    assert rounds.rounds == [1, 5]  # the shared round was not split into five more attempts
    assert waited < 2 * 1 + 3, "two lock timeouts of 1 s, plus slack for a loaded machine"
    assert all(len(list(pipeline.events.get(c))) == 1 for c in chats)
